// Which engine runs a model: the Vulkan device (default; --device N picks one)
// or the CPU reference (--cpu).
#include "commands.hpp"
#include "engine.hpp"
#include "error.hpp"
#include "reference.hpp"
#include "runtime/gpu_engine.hpp"

namespace wkv {

std::vector<FlagSpec> cache_flags() {
    return {
        {"--policy", "", "NAME", "KV cache policy: full, streaming, h2o, tova, cam, evict, weightedkv (default full)"},
        {"--budget", "", "M", "entries kept per layer and KV head (default for full: the model's context)"},
        {"--ctx-size", "-c", "N", "the same as --budget (llama.cpp's name)"},
        {"--sinks", "", "S", "first entries never dropped (default 4; 0 for tova)"},
        {"--recent", "", "R", "newest entries never dropped (default budget/2 - S for h2o/evict/weightedkv, 0 for tova)"},
        {"--positions", "", "MODE", "RoPE positions: cache (index in the cache, default) or original"},
        {"--kv-type", "", "TYPE", "storage of cached keys and values: f32 (default) or f16 (half the bytes)"},
        {"--cam-n", "", "N", "cam: how many following values share an evicted value (default 16)"},
        {"--cam-seed", "", "S", "cam: seed of its random merge decisions (default 0)"},
    };
}

PolicyRequest policy_options(const Args& args) {
    PolicyRequest r;
    if (args.has("--sinks")) r.sinks = static_cast<uint32_t>(args.integer("--sinks", 0, 0, 1 << 20));
    if (args.has("--recent")) r.recent = static_cast<uint32_t>(args.integer("--recent", 0, 0, 1 << 20));
    r.cam_n = static_cast<uint32_t>(args.integer("--cam-n", 16, 1, 4096));
    r.seed = static_cast<uint32_t>(args.integer("--cam-seed", 0, 0, UINT32_MAX));
    return r;
}

PositionMode positions_option(const Args& args) {
    const std::string positions = args.text("--positions", "cache");
    if (positions == "cache") return PositionMode::cache_index;
    if (positions == "original") return PositionMode::original;
    throw Error("--positions '" + positions + "' is not 'cache' or 'original'");
}

KvType kv_type_option(const Args& args) {
    const std::string type = args.text("--kv-type", "f32");
    if (type == "f32") return KvType::f32;
    if (type == "f16") return KvType::f16;
    throw Error("--kv-type '" + type + "' is not 'f32' or 'f16'");
}

CacheSettings cache_settings(const Args& args, const ModelConfig& config) {
    PolicyRequest r = policy_options(args);
    const std::string name = args.text("--policy", "full");
    const auto kind = parse_policy_name(name);
    if (!kind) throw Error("--policy '" + name + "' is not one of full, streaming, h2o, tova, cam, evict, weightedkv");
    r.kind = *kind;
    if (args.has("--budget") && args.has("--ctx-size")) throw Error(std::string("--budget and --ctx-size are the same setting; give one"));
    const char* budget_flag = args.has("--ctx-size") ? "--ctx-size" : "--budget";
    if (args.has(budget_flag)) r.budget = static_cast<uint32_t>(args.integer(budget_flag, 0, 1, 1 << 20));
    if ((args.has("--cam-n") || args.has("--cam-seed")) && r.kind != PolicyKind::cam) {
        throw Error(std::string("--cam-n and --cam-seed apply to --policy cam only"));
    }
    return {resolve_policy(r, config.context), positions_option(args), kv_type_option(args)};
}

EngineHandle make_engine(const Args& args, const Model& model, const CacheSettings& cache) {
    EngineHandle h;
    if (args.has("--cpu")) {
        if (args.has("--device")) throw Error(std::string("--cpu and --device exclude each other"));
        h.engine = std::make_unique<Reference>(model, cache);
        return h;
    }
    ContextOptions options;
    if (args.has("--device")) options.device_index = static_cast<uint32_t>(args.integer("--device", 0, 0, 255));
    h.context = std::make_unique<Context>(options);
    h.engine = std::make_unique<GpuEngine>(*h.context, model, cache);
    return h;
}

}  // namespace wkv
