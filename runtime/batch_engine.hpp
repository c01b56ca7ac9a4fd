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
    Buffer x_, xb_, q_, k_, v_, att_out_, hb_, hb2_, logits_, logits_host_, nll_host_;
    Buffer rope_;  // [position][head_dim / 2] (cos, sin)
    uint32_t rope_positions_;
    std::vector<std::unique_ptr<KvCacheRing>> rings_;
    std::vector<SequenceState> state_;
};

}  // namespace wkv
