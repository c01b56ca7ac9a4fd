// The forward pass for a batch of sequences on a Vulkan device: every weight
// is read once per step for all of them (matvec takes a batch of inputs),
// while each sequence keeps its own KV cache ring, cache policy, position and
// step count. The rings share buffers (KvCacheRing::batch), so each cache
// shader is one dispatch for every sequence of a step, not one per sequence.
// One command buffer per step records every layer of every sequence with the
// barriers between dispatches. A batch of one is how
// `wkv generate` runs; perplexity evaluation batches every (policy, budget).
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "engine.hpp"  // model/engine.hpp: the interface
#include "gpu_weights.hpp"
#include "kernels.hpp"
#include "kv_cache_ring.hpp"
#include "layer_plan.hpp"
#include "policy.hpp"
#include "recorder.hpp"

namespace wkv {

class BatchEngine final : public Engine {
public:
    // `max_chunk`: the most prompt tokens prefill() takes at once (activation rows).
    // `max_buffer_bytes`: split cache layers above this (0 = the device's limits).
    // (runtime/engine_factory.hpp plans the memory and uploads the weights first.)
    BatchEngine(Context& ctx, std::shared_ptr<const GpuWeights> weights, std::vector<CacheSettings> sequences,
                uint32_t max_chunk = 1, uint64_t max_buffer_bytes = 0);

    uint32_t size() const override { return static_cast<uint32_t>(sequences_.size()); }
    // One token for every active sequence: one command buffer, every weight read once for all.
    void step(std::span<const SequenceStep> steps) override;
    // A prompt in chunks of prefill_chunk() tokens: every weight read once per
    // chunk. In each layer, while its cache takes them without evicting, a chunk's
    // tokens are appended together and attend in one pass, each causally (query j
    // over the entries up to its own); a token that makes the layer's policy evict
    // is processed on its own, after those before it (so a full sliding window
    // goes token by token while the global layers still take the chunk at once).
    // Either way the result equals feeding them one at a time, bit for bit.
    void prefill(uint32_t b, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) override;
    uint32_t prefill_chunk() const override { return rows_; }
    void reset(uint32_t b) override;

    std::vector<float> logits(uint32_t b) const override;
    double nll(uint32_t b) const override;
    int32_t token(uint32_t b) const override;

    uint32_t entries(uint32_t b) const override { return state_[b].entries; }
    uint64_t kv_bytes_held(uint32_t b) const override;
    CacheView cache_view(uint32_t b) const override { return cache(b).view(); }
    EvictionCounts eviction_counts(uint32_t b) const override { return cache(b).eviction_counts(); }
    uint64_t kv_cache_bytes() const override;
    uint64_t weight_bytes() const override { return w_->bytes(); }
    uint64_t bytes_read_per_token() const override { return w_->bytes_read_per_token(); }
    std::string device_name() const override;
    HostCounters host_counters() const override { return recorder_.counters(); }
    void enable_profiling() override { recorder_.enable_profiling(); }
    std::vector<ShaderTime> profile() const override { return recorder_.profile(); }

    const ModelConfig& config() const { return c_; }
    const KvCacheRing& cache(uint32_t b) const { return *rings_[b]; }
    // The bytes of the engine's own buffers (activations, logits, RoPE table, the cache kernels'
    // entries) for these sequences, before building one (for the memory plan), and as built.
    struct BufferBytes {
        uint64_t total = 0, largest = 0;
    };
    static BufferBytes buffer_bytes(const ModelConfig& config, const std::vector<CacheSettings>& sequences,
                                    uint32_t max_chunk = 1);
    uint64_t buffer_bytes() const;

private:
    struct SequenceState {
        uint32_t entries = 0;  // in every global layer and head
        uint32_t steps = 0;    // tokens fed since the cache was empty
    };
    // One token's work on its sequence's cache in a layer, or that of a run of
    // `tokens` consecutive tokens of a prompt chunk (rows row, row + 1, ...) that
    // the layer's cache takes without evicting. What the layer holds, and whether
    // it compresses, follows from the step and the layer's policy.
    struct CacheWork {
        uint32_t row, seq, pos, step;  // of the first token; step: tokens fed before it
        uint32_t tokens = 1;
    };
    // Checks a token, works out its cache work and advances the sequence's state.
    CacheWork plan_token(uint32_t row, uint32_t b, const SequenceStep& step);
    // At most rows_ tokens of a prompt: one command buffer.
    void run_chunk(uint32_t b, std::span<const int32_t> tokens, uint32_t first_pos, bool logits);
    // Row `row` of an activation buffer of `floats` per row.
    BufferRange slice(const Buffer& b, uint32_t row, uint32_t floats) const;
    // Every layer for `rows` rows (row_tokens: each row's token, -1 for none), given each
    // token's work: one token of each of several sequences (a step), or the consecutive
    // tokens of one sequence's prompt chunk (`chunk`), which each layer takes in waves.
    void record_tokens(uint32_t rows, const std::vector<int32_t>& row_tokens, const std::vector<CacheWork>& work,
                       bool chunk);
    // A chunk's tokens as layer l's waves of cache work: runs its cache takes without evicting.
    std::vector<std::vector<CacheWork>> layer_waves(uint32_t l, const std::vector<CacheWork>& work) const;
    void record_layer(uint32_t l, uint32_t rows, const std::vector<std::vector<CacheWork>>& waves);

    Context& ctx_;
    std::shared_ptr<const GpuWeights> w_;
    ModelConfig c_;
    ModelPlan plan_;  // what each layer does (layer_plan.hpp)
    std::vector<CacheSettings> sequences_;
    std::vector<std::vector<CachePolicy>> layer_policies_;  // [sequence][layer] (CacheSettings::layer)
    uint32_t rows_;          // activation rows: a sequence each in step(), a token each in prefill()
    bool attend_in_chunks_;  // prefill() appends and attends a chunk's tokens together (chunk_probs_ holds them)
    Kernels kernels_;
    Recorder recorder_;
    // Activations, one row per sequence b (step) or per token of a chunk
    // (prefill) at b * padded(n) floats: R = max(B, max_chunk) rows. Each row
    // starts on a 256-byte boundary, so any device can bind it.
    Buffer x_;            // [R][dim]: the residual stream
    Buffer xb_;           // [R][dim]: the normed input of a block
    Buffer qkv_;          // [R][q | k | v]: queries (n_heads * head_dim), the new token's keys and values
                          // (n_kv_heads * head_dim each), as one stacked projection writes them
    Buffer att_out_;      // [R][n_heads * head_dim]: attention output
    Buffer gate_up_;      // [R][gate | up] (hidden_dim each): SwiGLU's inputs; gate becomes silu(gate) * up
    Buffer logits_;       // [B][vocab_size]
    Buffer logits_host_;  // [B][vocab_size], host-visible: the logits a step reads back
    Buffer nll_host_;     // [B], host-visible: one NLL per sequence
    Buffer tokens_host_;  // [B], host-visible: one greedy next token per sequence
    Buffer chunk_probs_;  // [max_chunk][n_heads][largest capacity]: a prompt chunk's attention (CacheTask::chunk_probs)
    // A RoPE table ([position][head_dim / 2] of (cos, sin)) per distinct RoPE of the model's
    // layers (one for most models), and the one each layer reads.
    std::vector<Buffer> rope_tables_;
    std::vector<uint32_t> layer_rope_;
    std::vector<std::unique_ptr<KvCacheRing>> rings_;
    std::vector<SequenceState> state_;
};

}  // namespace wkv
