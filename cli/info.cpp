// wkv info: what a model is and what running it takes, before anything runs:
// its metadata, its weights by type, the memory plan for the cache flags
// given, and whether that fits each Vulkan device.
#include <cstdio>
#include <map>

#include "commands.hpp"
#include "layer_plan.hpp"
#include "runtime/engine_factory.hpp"  // plan_for_device
#include "runtime/memory_plan.hpp"
#include "tensor_roles.hpp"

namespace wkv {

const CommandSpec kInfoCommand{
    "info",
    "Prints a model's metadata and weights, and whether a run fits each device.",
    "Prints a model's metadata and weights, the memory plan of a run with the cache flags given, and\n"
    "whether it fits each Vulkan device. Loads nothing onto a device.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags()),
};

int run_info(const Args& args) {
    const Model model = load_model(model_path(args));
    const ModelConfig& c = model.config;
    const CacheSettings cache = cache_settings(args, c);
    std::printf("model %s (%s)\n  %s\n  rope theta %g, rms eps %g\n", model.path.c_str(),
                model_format_name(model.format), describe(c).c_str(), c.rope_theta, c.rms_eps);
    std::printf("layers:\n");
    for (const std::string& line : describe(model_plan(c))) std::printf("  %s\n", line.c_str());
    std::printf("metadata:\n");
    for (const auto& [key, value] : model.metadata) std::printf("  %-40s %s\n", key.c_str(), value.c_str());

    std::map<std::string, std::pair<int, uint64_t>> types;  // name -> tensors, bytes in the file
    for (const TensorView* t : all_tensors(model)) {
        auto& [n, bytes] = types[tensor_type_name(t->type)];
        n++;
        bytes += tensor_bytes(t->name, t->type, t->rows, t->cols, t->group_size);
    }
    std::printf("weights: %s in the file\n", format_bytes(model.weight_bytes()).c_str());
    for (const auto& [name, count] : types)
        std::printf("  %-22s %3d tensors  %s\n", name.c_str(), count.first, format_bytes(count.second).c_str());

    std::printf("cache: %s, %s positions, %s keys/values\n", describe(cache.policy).c_str(),
                cache.positions == PositionMode::cache_index ? "cache-index" : "original",
                kv_types_name(cache.kv_type).c_str());
    // Sliding-window layers hold their window whatever the policy (CacheSettings::layer).
    for (uint32_t l = 0; l < c.n_layers; l++) {
        if (c.window(l) == 0) continue;
        std::printf("  sliding-window layers: %s (their window, exactly as trained)\n",
                    describe(cache.layer(c, l)).c_str());
        break;
    }
    const std::vector<DeviceInfo> devices = list_devices();
    for (const DeviceInfo& d : devices) {
        // As generate would run: with the prompt chunk that fits this device.
        const MemoryPlan plan = plan_for_device(model, {cache}, d);
        std::printf("device %u: %s\n  plan: weights %s (", d.index, d.name.c_str(), format_bytes(plan.weights).c_str());
        for (size_t i = 0; i < plan.weights_by_type.size(); i++) {
            std::printf("%s%s %s", i ? ", " : "", plan.weights_by_type[i].first.c_str(),
                        format_bytes(plan.weights_by_type[i].second).c_str());
        }
        const std::vector<uint32_t> slots = cache.layer_slots(c);
        const uint64_t one_global = KvCacheRing::bytes_for(c, std::vector<uint32_t>{slots[c.global_layer()]},
                                                           cache.kv_type, d.max_buffer_bytes());
        const bool windows = !c.layer_windows.empty();
        std::printf("), KV cache %s (%s per %slayer%s), activations %s: %s\n", format_bytes(plan.kv_cache).c_str(),
                    format_bytes(one_global).c_str(), windows ? "global " : "",
                    plan.kv_split ? ", split by KV heads into buffers the device can bind" : "",
                    format_bytes(plan.activations).c_str(), format_bytes(plan.total()).c_str());
        // Keys and values as stored (a quantised row is whole blocks), and what the policies keep beside them.
        uint64_t rows = 0;
        for (uint32_t n : slots) rows += uint64_t{n} * c.n_kv_heads;
        const uint64_t keys = rows * kv_row_bytes(cache.kv_type.k, c.head_dim());
        const uint64_t values = rows * kv_row_bytes(cache.kv_type.v, c.head_dim());
        std::printf("  KV cache: keys %s (%s), values %s (%s), scores, order and provenance %s\n",
                    format_bytes(keys).c_str(), kv_type_name(cache.kv_type.k), format_bytes(values).c_str(),
                    kv_type_name(cache.kv_type.v), format_bytes(plan.kv_cache - keys - values).c_str());
        const std::string why = why_it_does_not_fit(plan, d);
        if (why.empty()) {
            std::printf("  fits: %s of %s free\n", format_bytes(plan.total()).c_str(),
                        format_bytes(d.device_local_free).c_str());
        } else {
            std::printf("  does not fit: %s\n", why.c_str());
        }
    }
    return 0;
}

}  // namespace wkv
