// What a run needs on the device, part by part, worked out before anything is
// allocated, and held against what the device has: its device-local memory
// (what VK_EXT_memory_budget says is free, where the driver says),
// maxMemoryAllocationSize for every allocation and maxStorageBufferRange for
// every binding. A run that does not fit is refused in one line that names
// each part and what would make it fit, before any upload.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "context.hpp"
#include "model.hpp"
#include "policy.hpp"

namespace wkv {

struct MemoryPlan {
    std::vector<std::pair<std::string, uint64_t>> weights_by_type;  // "q4_K" -> device bytes
    uint64_t weights = 0;
    uint64_t largest_weight_buffer = 0;  // one chunk of one matrix: one allocation and one binding
    uint64_t kv_cache = 0;               // every sequence's ring, every layer
    uint64_t kv_buffer = 0;              // the largest buffer of a ring (a layer, or a group of its KV heads)
    bool kv_split = false;               // some ring splits its layers into groups of KV heads
    uint32_t sequences = 0;
    uint64_t activations = 0;         // activations, logits and the RoPE table
    uint64_t largest_activation = 0;  // the largest of those buffers (logits of every sequence)

    // What the plan was made for: to work out a cache that would fit.
    ModelConfig config;
    std::vector<CacheSettings> settings;
    uint32_t prompt_chunk = 1;
    uint64_t max_buffer_bytes = 0;

    uint64_t total() const { return weights + kv_cache + activations; }
};

// The plan for `model` with one sequence per setting, weight matrices and
// cache layers split into buffers of at most `max_buffer_bytes`
// (DeviceInfo::max_buffer_bytes) as the upload and the ring split them.
// `prompt_chunk`: the most prompt tokens processed at once (activation rows).
MemoryPlan plan_memory(const Model& model, const std::vector<CacheSettings>& sequences, uint64_t max_buffer_bytes,
                       uint32_t prompt_chunk = 1);

// The most prompt tokens, at most `wanted`, that can go through the layers at
// once while every activation buffer stays within the device's binding and
// allocation limits (lowered limits shrink the chunk, they do not fail the run).
uint32_t prompt_chunk_that_fits(const ModelConfig& config, const std::vector<CacheSettings>& sequences,
                                const DeviceInfo& device, uint32_t wanted);

// Why the plan does not fit the device, in one line with what would fit
// instead; empty when it fits.
std::string why_it_does_not_fit(const MemoryPlan& plan, const DeviceInfo& device);

// Throws wkv::Error (exit code 3) with why_it_does_not_fit.
void check_fits(const MemoryPlan& plan, const DeviceInfo& device);

std::string format_bytes(uint64_t bytes);  // "1.5 GiB", "12.0 MiB", "640 B"

}  // namespace wkv
