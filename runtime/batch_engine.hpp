// The forward pass for a batch of sequences on a Vulkan device: every weight
// is read once per step for all of them (matvec takes a batch of inputs),
// while each sequence keeps its own KV cache ring, cache policy, position and
// step count. One command buffer per step records every layer of every
// sequence with the barriers between dispatches. A batch of one is how
// `wkv generate` runs; perplexity evaluation batches every (policy, budget).
#pragma once

#include <memory>
#include <vector>

#include "gpu_weights.hpp"
#include "kernels.hpp"
#include "kv_cache_ring.hpp"
#include "policy.hpp"
#include "recorder.hpp"

namespace wkv {

enum class StepOutput { none, logits, nll };

struct SequenceStep {
    bool active = true;   // an inactive sequence is left untouched this step
    int32_t token = 0;
    uint32_t pos = 0;
    StepOutput output = StepOutput::none;
    int32_t target = 0;   // for StepOutput::nll
};

class BatchEngine {
public:

    BatchEngine(Context& ctx, const GpuWeights& weights, std::vector<CacheSettings> sequences);

    // One token for every active sequence.
    void step(const std::vector<SequenceStep>& steps);
    // After a step: sequence b's logits (StepOutput::logits) or NLL (StepOutput::nll).
    std::vector<float> logits(uint32_t b) const;
    float nll(uint32_t b) const;

    void reset(uint32_t b);  // empty that sequence's cache
    uint32_t size() const { return static_cast<uint32_t>(sequences_.size()); }
    const KvCacheRing& cache(uint32_t b) const { return *rings_[b]; }
    uint32_t entries(uint32_t b) const { return state_[b].entries; }
    uint64_t kv_cache_bytes() const;
    // The bytes of the engine's own buffers (activations, logits, RoPE table) for these
    // sequences, before building one (for the memory plan), and as built.
    struct BufferBytes {
        uint64_t total = 0, largest = 0;
    };
    static BufferBytes buffer_bytes(const ModelConfig& config, const std::vector<CacheSettings>& sequences);
    uint64_t buffer_bytes() const;
    // Device time per shader over the steps after enable_profiling() (`wkv ppl --profile`).
    void enable_profiling() { recorder_.enable_profiling(); }
    std::vector<ShaderTime> profile() const { return recorder_.profile(); }

private:
    struct SequenceState {
        uint32_t entries = 0;  // in every layer and head
        uint32_t steps = 0;    // tokens fed since the cache was empty
    };
    // Sequence b's slice of a batched activation buffer of `floats` per sequence.
    BufferRange slice(const Buffer& b, uint32_t seq, uint32_t floats) const;
    void record_layer(uint32_t l, const std::vector<SequenceStep>& steps, const std::vector<bool>& compress);

    Context& ctx_;
    const GpuWeights& w_;
    ModelConfig c_;
    std::vector<CacheSettings> sequences_;
    Kernels kernels_;
    Recorder recorder_;
    // Activations, one slice per sequence b at b * padded(n) floats (each slice
    // starts on a 256-byte boundary, so any device can bind it).
    Buffer x_;            // [B][dim]: the residual stream
    Buffer xb_;           // [B][dim]: the normed input of a block
    Buffer q_;            // [B][n_heads * head_dim]: queries
    Buffer k_, v_;        // [B][n_kv_heads * head_dim]: the new token's keys and values
    Buffer att_out_;      // [B][n_heads * head_dim]: attention output
    Buffer hb_, hb2_;     // [B][hidden_dim]: SwiGLU gate (then silu(gate) * up) and up
    Buffer logits_;       // [B][vocab_size]
    Buffer logits_host_;  // [B][vocab_size], host-visible: the logits a step reads back
    Buffer nll_host_;     // [B], host-visible: one NLL per sequence
    Buffer rope_;         // [position][head_dim / 2] of (cos, sin)
    uint32_t rope_positions_;
    std::vector<std::unique_ptr<KvCacheRing>> rings_;
    std::vector<SequenceState> state_;
};

}  // namespace wkv
