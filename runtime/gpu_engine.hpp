// The Engine interface (model/engine.hpp) on a Vulkan device for one sequence:
// the model's weights uploaded once, and a BatchEngine of one.
#pragma once

#include <memory>
#include <vector>

#include "batch_engine.hpp"
#include "context.hpp"
#include "engine.hpp"  // model/engine.hpp: the interface
#include "gpu_weights.hpp"
#include "model.hpp"
#include "policy.hpp"

namespace wkv {

// Prompt tokens fed at once (each weight read once per chunk), unless the device's limits ask for fewer.
constexpr uint32_t kPromptChunk = 64;

struct GpuEngineOptions {
    uint64_t max_buffer_bytes = 0;  // split weight matrices and cache layers above this (0 = DeviceInfo::max_buffer_bytes)
    uint32_t prompt_chunk = kPromptChunk;
    UploadProgress upload_progress;  // told how the upload of the weights goes
};

class GpuEngine final : public Engine {
public:
    GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options = {});
    // A full cache of `entries`.
    GpuEngine(Context& ctx, const Model& model, uint32_t entries, PositionMode positions = PositionMode::cache_index,
              GpuEngineOptions options = {})
        : GpuEngine(ctx, model, full_cache(entries, positions), options) {}

    const std::vector<float>& forward(int32_t token, uint32_t pos) override;
    int32_t next_token(int32_t token, uint32_t pos, Sampler& sampler) override;
    void feed(int32_t token, uint32_t pos) override;
    void feed(std::span<const int32_t> tokens, uint32_t first_pos) override;
    double nll(int32_t token, uint32_t pos, int32_t target) override;
    void reset() override { batch_.reset(0); }
    uint64_t kv_cache_bytes() const override { return batch_.kv_cache_bytes(); }
    uint32_t cache_entries() const override { return batch_.entries(0); }
    uint64_t weight_bytes() const override { return weights_->bytes(); }
    uint64_t bytes_read_per_token() const override { return weights_->bytes_read_per_token(); }
    std::string device_name() const override { return ctx_.info().name; }
    HostCounters host_counters() const override { return batch_.host_counters(); }

    // Device time per shader from now on (`wkv bench --profile`).
    void enable_profiling() { batch_.enable_profiling(); }
    std::vector<ShaderTime> profile() const { return batch_.profile(); }

    const KvCacheRing& cache() const { return batch_.cache(0); }
    uint32_t entries() const { return batch_.entries(0); }

private:
    Context& ctx_;
    std::unique_ptr<GpuWeights> weights_;
    BatchEngine batch_;
    std::vector<float> logits_;
};

}  // namespace wkv
