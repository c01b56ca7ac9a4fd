#include "memory_plan.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "batch_engine.hpp"
#include "device_layout.hpp"
#include "error.hpp"
#include "gpu_tensor.hpp"
#include "kv_cache_ring.hpp"

namespace wkv {

std::string format_bytes(uint64_t bytes) {
    char buf[32];
    if (bytes >= (uint64_t{1} << 30))
        std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= (uint64_t{1} << 20))
        std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / 1048576.0);
    else if (bytes >= (uint64_t{1} << 10))
        std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
    else
        std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    return buf;
}

MemoryPlan plan_memory(const Model& model, const std::vector<CacheSettings>& sequences, uint64_t max_buffer_bytes,
                       uint32_t prompt_chunk) {
    MemoryPlan plan;
    const ModelConfig& c = model.config;
    // Weights as upload_weights stores them: the tensors of the device layout.
    std::map<std::string, uint64_t> by_type;
    const DeviceLayout layout = device_layout(model);
    for (const DeviceTensorSpec* spec : all_specs(layout)) {
        const DeviceFootprint f = device_footprint(*spec, max_buffer_bytes);
        by_type[tensor_type_name(f.type)] += f.bytes;
        plan.weights += f.bytes;
        plan.largest_weight_buffer = std::max(plan.largest_weight_buffer, f.largest_buffer);
    }
    plan.weights_by_type.assign(by_type.begin(), by_type.end());

    // One KV cache ring per sequence.
    plan.sequences = static_cast<uint32_t>(sequences.size());
    for (const CacheSettings& s : sequences) {
        const std::vector<uint32_t> slots = s.layer_slots(c);  // a sliding-window layer holds its window
        plan.kv_cache += KvCacheRing::bytes_for(c, slots, s.kv_type, max_buffer_bytes);
        plan.kv_buffer =
            std::max(plan.kv_buffer, KvCacheRing::largest_buffer_for(c, slots, s.kv_type, max_buffer_bytes));
        plan.kv_split = plan.kv_split || KvCacheRing::groups_for(c, slots, s.kv_type, max_buffer_bytes) > 1;
    }
    const BatchEngine::BufferBytes buffers = BatchEngine::buffer_bytes(c, sequences, prompt_chunk);
    plan.activations = buffers.total;
    plan.largest_activation = buffers.largest;
    plan.config = c;
    plan.settings = sequences;
    plan.prompt_chunk = prompt_chunk;
    plan.max_buffer_bytes = max_buffer_bytes;
    return plan;
}

uint32_t prompt_chunk_that_fits(const ModelConfig& config, const std::vector<CacheSettings>& sequences,
                                const DeviceInfo& device, uint32_t wanted) {
    const uint64_t limit = device.max_buffer_bytes();
    uint32_t chunk = std::max(1u, wanted);
    while (chunk > 1 && BatchEngine::buffer_bytes(config, sequences, chunk).largest > limit) chunk--;
    return chunk;
}

namespace {

// The KV cache and activations of the plan's sequences with every cache `entries` long.
uint64_t cache_bytes_at(const MemoryPlan& plan, uint32_t entries) {
    std::vector<CacheSettings> resized = plan.settings;
    uint64_t bytes = 0;
    for (CacheSettings& s : resized) {
        s.policy.budget = entries;
        bytes += KvCacheRing::bytes_for(plan.config, s.layer_slots(plan.config), s.kv_type, plan.max_buffer_bytes);
    }
    return bytes + BatchEngine::buffer_bytes(plan.config, resized, plan.prompt_chunk).total;
}

// The longest cache (entries per layer and KV head) that fits `free` beside the weights; 0 if none.
uint32_t longest_cache_that_fits(const MemoryPlan& plan, uint64_t free) {
    if (plan.weights >= free) return 0;
    uint32_t lo = 0, hi = 1u << 20;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo + 1) / 2;
        if (plan.weights + cache_bytes_at(plan, mid) <= free)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

// The plan's caches with their K/V types changed by `to`: every sequence's ring in bytes, and its largest buffer.
std::pair<uint64_t, uint64_t> cache_bytes_as(const MemoryPlan& plan, const std::function<KvTypes(KvTypes)>& to) {
    uint64_t total = 0, largest = 0;
    for (const CacheSettings& s : plan.settings) {
        const std::vector<uint32_t> slots = s.layer_slots(plan.config);
        const KvTypes types = to(s.kv_type);
        total += KvCacheRing::bytes_for(plan.config, slots, types, plan.max_buffer_bytes);
        largest = std::max(largest, KvCacheRing::largest_buffer_for(plan.config, slots, types, plan.max_buffer_bytes));
    }
    return {total, largest};
}

// The first of the usual memory settings that shrinks the caches enough for `fits(total, largest)`,
// as ", or FLAG would fit"; "" if none. Values go to q8_0 before keys, as llama.cpp users
// do first: a key's error moves every score of its entry, a value's only its share of the output.
std::string smaller_types(const MemoryPlan& plan, const std::function<bool(uint64_t, uint64_t)>& fits) {
    struct Option {
        const char* flag;
        std::optional<KvType> k, v;  // what keys and values become, where it stores them in fewer bytes
    };
    static const Option options[] = {
        {"--kv-type f16", KvType::f16, KvType::f16},
        {"--cache-type-v q8_0", std::nullopt, KvType::q8_0},
        {"--kv-type q8_0", KvType::q8_0, KvType::q8_0},
    };
    const uint32_t head_dim = plan.config.head_dim();  // a short head pads to a whole block: q8_0 may be larger
    auto narrowed = [&](KvType type, std::optional<KvType> to) {
        return to && kv_row_bytes(*to, head_dim) < kv_row_bytes(type, head_dim) ? *to : type;
    };
    for (const Option& o : options) {
        auto apply = [&](KvTypes t) { return KvTypes(narrowed(t.k, o.k), narrowed(t.v, o.v)); };
        bool changes = false;
        for (const CacheSettings& s : plan.settings) changes = changes || !(apply(s.kv_type) == s.kv_type);
        if (!changes) continue;
        const auto [total, largest] = cache_bytes_as(plan, apply);
        if (fits(total, largest)) return std::string(", or ") + o.flag + " would fit";
    }
    return "";
}

}  // namespace

std::string why_it_does_not_fit(const MemoryPlan& plan, const DeviceInfo& device) {
    std::string weights;
    for (const auto& [type, bytes] : plan.weights_by_type)
        weights += (weights.empty() ? "" : ", ") + type + " " + format_bytes(bytes);
    const std::string parts = "weights " + format_bytes(plan.weights) + " (" + weights + ") + KV cache " +
                              format_bytes(plan.kv_cache) + " (" + std::to_string(plan.sequences) +
                              (plan.sequences == 1 ? " sequence" : " sequences") + ") + activations " +
                              format_bytes(plan.activations);
    const std::string on = " on " + device.name;
    if (plan.total() > device.device_local_free) {
        const std::string narrower = smaller_types(plan, [&](uint64_t cache, uint64_t) {
            return plan.total() - plan.kv_cache + cache <= device.device_local_free;
        });
        const uint32_t fits = longest_cache_that_fits(plan, device.device_local_free);
        const std::string advice =
            fits < 16
                ? std::string("the weights leave no room for a cache: a smaller quantisation of the model is needed")
                : "a cache of at most " + std::to_string(fits) + " entries would fit (-c/--ctx-size or --budget)" +
                      narrower;
        return "needs " + format_bytes(plan.total()) + on + ", which has " + format_bytes(device.device_local_free) +
               " free: " + parts + "; " + advice;
    }
    auto over = [&](uint64_t bytes, uint64_t limit, const std::string& what, const std::string& limit_name,
                    const std::string& advice) {
        return bytes > limit ? what + " needs " + format_bytes(bytes) + " in one " + limit_name + on +
                                   ", whose limit is " + format_bytes(limit) + "; " + advice
                             : std::string();
    };
    const std::string cache_advice =
        "a smaller -c/--ctx-size or --budget would fit" +
        smaller_types(plan, [&](uint64_t, uint64_t largest) { return largest <= device.max_buffer_bytes(); });
    const std::string kBufferLimit = "buffer (maxStorageBufferRange, maxMemoryAllocationSize)";
    for (const std::string& reason : {
             over(plan.kv_buffer, device.max_buffer_bytes(), "one KV head of a layer's cache", kBufferLimit,
                  cache_advice),
             over(plan.largest_weight_buffer, device.max_buffer_bytes(), "a weight matrix row", kBufferLimit,
                  "the device cannot hold this model"),
             over(plan.largest_activation, device.max_buffer_bytes(), "the activations", kBufferLimit,
                  "fewer sequences at once would fit"),
         }) {
        if (!reason.empty()) return reason;
    }
    return "";
}

void check_fits(const MemoryPlan& plan, const DeviceInfo& device) {
    const std::string why = why_it_does_not_fit(plan, device);
    if (!why.empty()) throw Error("the run does not fit: " + why, ExitCode::device);
}

}  // namespace wkv
