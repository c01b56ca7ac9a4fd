// Where an engine is made: on the CPU reference or on a Vulkan device, for one
// CacheSettings per sequence. On a device the memory plan comes first (a run
// that does not fit is refused before anything is uploaded), then the weights
// are uploaded once, then the engine is built: in this one place for every command.
#pragma once

#include <memory>
#include <vector>

#include "batch_engine.hpp"
#include "context.hpp"
#include "engine.hpp"
#include "gpu_weights.hpp"
#include "memory_plan.hpp"
#include "model.hpp"
#include "policy.hpp"

namespace wkv {

// Prompt tokens fed at once (each weight read once per chunk), unless the device's limits ask for fewer.
constexpr uint32_t kPromptChunk = 64;

struct GpuOptions {
    uint64_t max_buffer_bytes =
        0;  // split weight matrices and cache layers above this (0 = DeviceInfo::max_buffer_bytes)
    uint32_t prompt_chunk = kPromptChunk;
    UploadProgress upload_progress;  // told how the upload of the weights goes
};

// The memory plan of an engine for these sequences on `device`, as
// make_gpu_engine will build it (with the prompt chunk that fits the device).
MemoryPlan plan_for_device(const Model& model, const std::vector<CacheSettings>& sequences, const DeviceInfo& device,
                           const GpuOptions& options = {});

// An engine on `ctx`'s device for these sequences.
std::unique_ptr<BatchEngine> make_gpu_engine(Context& ctx, const Model& model, std::vector<CacheSettings> sequences,
                                             GpuOptions options = {});

struct EngineChoice {
    bool cpu = false;       // the CPU reference
    ContextOptions device;  // else this Vulkan device
};

// An engine and the Vulkan context it runs on (none on the CPU). The engine is
// declared last, so that it is destroyed before its context.
struct OpenEngine {
    std::unique_ptr<Context> context;
    std::unique_ptr<Engine> engine;
};
OpenEngine open_engine(const Model& model, std::vector<CacheSettings> sequences, const EngineChoice& choice,
                       GpuOptions options = {});

}  // namespace wkv
