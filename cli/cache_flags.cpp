#include "cache_flags.hpp"

#include <algorithm>

#include "error.hpp"

namespace wkv {

std::vector<FlagSpec> cache_flags(bool lists) {
    std::vector<FlagSpec> flags = {
        {"--policy", "", lists ? "LIST" : "NAME",
         std::string(lists ? "comma-separated KV cache policies" : "KV cache policy") + ": " + policy_names() +
             " (default full)"},
        {"--budget", "", lists ? "LIST" : "M",
         lists ? "comma-separated budgets (entries kept per layer and KV head) for the compressing policies"
               : "entries kept per layer and KV head (default for full: the model's context, at most 4096)"},
    };
    if (!lists)
        flags.push_back({"--ctx-size", "-c", "N", "the same as --budget (llama.cpp's name for the full cache's size)"});
    const std::vector<FlagSpec> rest = {
        {"--sinks", "", "S", "first entries never dropped (default 4; 0 for tova)"},
        {"--recent", "", "R",
         "newest entries never dropped (default budget/2 - S for h2o/evict/weightedkv, 0 for tova)"},
        {"--positions", "", "MODE", "RoPE positions: cache (index in the cache, default) or original"},
        {"--kv-type", "", lists ? "LIST" : "TYPE",
         std::string(lists ? "comma-separated storages" : "storage") +
             " of cached keys and values: f16 (default, as llama.cpp's), f32, q8_0 or q4_0 (llama.cpp's blocks)"},
        {"--cache-type-k", "-ctk", "TYPE", "storage of cached keys alone (default --kv-type's)"},
        {"--cache-type-v", "-ctv", "TYPE", "storage of cached values alone (default --kv-type's)"},
        {"--cam-n", "", "N", "cam: how many following values share an evicted value (default 16)"},
        {"--cam-seed", "", "S", "cam: seed of its random merge decisions (default 0)"},
    };
    flags.insert(flags.end(), rest.begin(), rest.end());
    return flags;
}

namespace {

PositionMode positions_option(const Args& args) {
    const std::string positions = args.text("--positions", "cache");
    if (positions == "cache") return PositionMode::cache_index;
    if (positions == "original") return PositionMode::original;
    throw Error("--positions " + quoted(positions) + " is not 'cache' or 'original'");
}

KvType kv_type_named(const char* flag, const std::string& name) {
    KvType type;
    if (!parse_kv_type(name.c_str(), type))
        throw Error(std::string(flag) + " " + quoted(name) + " is not f32, f16, q8_0 or q4_0");
    return type;
}

// --kv-type sets both (a list of them for wkv ppl); --cache-type-k and --cache-type-v each override one.
std::vector<KvTypes> kv_types_option(const Args& args) {
    std::vector<KvTypes> out;
    for (const std::string& name : args.list("--kv-type", "f16")) {
        const KvType both = kv_type_named("--kv-type", name);
        KvTypes t(both);
        if (args.has("--cache-type-k")) t.k = kv_type_named("--cache-type-k", args.text("--cache-type-k"));
        if (args.has("--cache-type-v")) t.v = kv_type_named("--cache-type-v", args.text("--cache-type-v"));
        if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
    return out;
}

// The budgets asked for, under either name.
std::vector<int64_t> budgets_option(const Args& args) {
    if (args.has("--budget") && args.has("--ctx-size"))
        throw Error(std::string("--budget and --ctx-size are the same setting; give one"));
    return args.integer_list(args.has("--ctx-size") ? "--ctx-size" : "--budget", 1, 1 << 20);
}

std::string flag_of(PolicySetting s) {
    switch (s) {
        case PolicySetting::policy: return "--policy";
        case PolicySetting::budget: return "--budget";
        case PolicySetting::sinks: return "--sinks";
        case PolicySetting::recent: return "--recent";
        case PolicySetting::cam_n: return "--cam-n";
        case PolicySetting::cam_seed: return "--cam-seed";
    }
    return "?";
}

// resolve_policy, its errors naming the flags.
CachePolicy resolve(const PolicyRequest& r, uint32_t model_context) {
    try {
        return resolve_policy(r, model_context);
    } catch (const PolicyError& e) {
        throw Error(e.message(flag_of));
    }
}

}  // namespace

std::vector<CacheSettings> cache_settings_list(const Args& args, const ModelConfig& config,
                                               std::optional<uint32_t> full_budget) {
    std::vector<PolicyKind> kinds;
    for (const std::string& name : args.list("--policy", "full")) {
        const auto kind = parse_policy_name(name);
        if (!kind) throw Error("--policy " + quoted(name) + " is not one of " + policy_names());
        kinds.push_back(*kind);
    }
    PolicyRequest shared;
    if (args.has("--sinks")) shared.sinks = static_cast<uint32_t>(args.integer("--sinks", 0, 0, 1 << 20));
    if (args.has("--recent")) shared.recent = static_cast<uint32_t>(args.integer("--recent", 0, 0, 1 << 20));
    if (args.has("--cam-n")) shared.cam_n = static_cast<uint32_t>(args.integer("--cam-n", 16, 1, 4096));
    if (args.has("--cam-seed")) shared.seed = static_cast<uint32_t>(args.integer("--cam-seed", 0, 0, UINT32_MAX));
    const std::vector<int64_t> budgets = budgets_option(args);
    const PositionMode positions = positions_option(args);
    const std::vector<KvTypes> kv_types = kv_types_option(args);

    // A flag that applies to none of the policies: the first policy's own rule names it.
    auto takes_any = [&](auto field) {
        for (PolicyKind k : kinds) {
            if (request_for(shared, k).*field) return true;
        }
        return false;
    };
    for (auto field : {&PolicyRequest::sinks, &PolicyRequest::recent, &PolicyRequest::cam_n, &PolicyRequest::seed}) {
        if (shared.*field && !takes_any(field)) {
            PolicyRequest r = shared;
            r.kind = kinds.front();
            r.budget = budgets.empty() ? std::nullopt : std::optional<uint32_t>(static_cast<uint32_t>(budgets.front()));
            resolve(r, config.context);  // throws, naming the flag
            throw std::logic_error("cache_settings_list: a flag no policy takes was accepted");
        }
    }
    bool budget_used = false;
    std::vector<CacheSettings> out;
    for (const KvTypes& kv_type : kv_types) {
        for (PolicyKind kind : kinds) {
            PolicyRequest r = request_for(shared, kind);
            if (kind == PolicyKind::full && full_budget) {
                r.budget = *full_budget;
                out.push_back({resolve(r, config.context), positions, kv_type});
                continue;
            }
            if (budgets.empty()) {
                out.push_back(
                    {resolve(r, config.context), positions, kv_type});  // full: the context; else "needs --budget"
                continue;
            }
            budget_used = true;
            for (int64_t b : budgets) {
                r.budget = static_cast<uint32_t>(b);
                out.push_back({resolve(r, config.context), positions, kv_type});
            }
        }
    }
    if (!budgets.empty() && !budget_used)
        throw Error(std::string("--budget does not apply to --policy full here: its cache holds the whole window"));
    return out;
}

CacheSettings cache_settings(const Args& args, const ModelConfig& config) {
    const std::vector<CacheSettings> list = cache_settings_list(args, config);
    if (list.size() != 1) throw Error(std::string("--policy, --budget and --kv-type take one value here"));
    return list.front();
}

}  // namespace wkv
