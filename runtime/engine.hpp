// The Llama-2 forward pass on a Vulkan device: weights uploaded once, one
// command buffer per token recording every layer with the barriers between
// dispatches, and only the logits coming back.
#pragma once

#include <memory>
#include <vector>

#include "context.hpp"
#include "engine.hpp"
#include "gpu_tensor.hpp"
#include "kernels.hpp"
#include "kv_cache_ring.hpp"
#include "model.hpp"
#include "recorder.hpp"
#include "reference.hpp"

namespace wkv {

struct GpuEngineOptions {
    uint64_t max_chunk_bytes = 0;  // split weights above this (0 = the device's storage buffer range)
};

class GpuEngine final : public Engine {
public:
    GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options = {});
    // A full cache of `entries`.
    GpuEngine(Context& ctx, const Model& model, uint32_t entries, PositionMode positions = PositionMode::cache_index,
              GpuEngineOptions options = {})
        : GpuEngine(ctx, model, full_cache(entries, positions), options) {}

    const std::vector<float>& forward(int32_t token, uint32_t pos) override;
    void feed(int32_t token, uint32_t pos) override;
    double nll(int32_t token, uint32_t pos, int32_t target) override;
    void reset() override;
    uint64_t kv_cache_bytes() const override { return cache_.bytes(); }
    std::string device_name() const override { return ctx_.info().name; }

    const KvCacheRing& cache() const { return cache_; }
    uint32_t entries() const { return entries_; }
    uint64_t weight_bytes() const override;  // as stored on the device

private:
    enum class Output { none, logits, nll };
    // Records and runs one token; `output` says what comes back.
    void step(int32_t token, uint32_t pos, Output output, int32_t target);

    struct Layer {
        GpuTensor attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;
    };

    Context& ctx_;
    ModelConfig c_;
    CacheSettings settings_;
    Kernels kernels_;
    Recorder recorder_;

    GpuTensor token_embedding_;
    std::vector<Layer> layers_;
    GpuTensor final_norm_;
    std::unique_ptr<GpuTensor> separate_classifier_;  // null when the embedding is shared

    // Activations of the current token.
    Buffer x_, xb_, q_, k_, v_, att_out_, hb_, hb2_, logits_, logits_host_;
    Buffer nll_host_;  // one float
    Buffer rope_;  // [position][head_dim / 2] (cos, sin)
    uint32_t rope_positions_;

    KvCacheRing cache_;
    uint32_t entries_ = 0;  // entries in every layer and head (each appends one per token, drops at most one)
    uint32_t steps_ = 0;    // tokens fed since the cache was empty
    std::vector<float> logits_cpu_;
};

}  // namespace wkv
