#include "serve_cache.hpp"

namespace wkv {

nlohmann::json cache_view_json(const SlotView& v, const CacheSettings& cache, const ModelConfig& config,
                               const Tokenizer& tokenizer, bool heads) {
    using json = nlohmann::json;
    const EvictionCounts evicted = v.view.total();
    // The positions whose tokens are still known: the newest ones.
    const uint32_t first =
        std::max(v.first_logged, v.tokens > SlotPool::kLoggedTokens ? v.tokens - SlotPool::kLoggedTokens : 0u);
    json positions = json::array();
    int32_t previous = -1;
    for (const PositionHeld& p : held_positions(v.view, first, v.tokens)) {
        const size_t at = p.position - v.first_logged;
        const int32_t id = at < v.logged.size() ? v.logged[at] : -1;
        std::string text;
        if (id >= 0) {
            text = tokenizer.decode_piece(previous < 0 ? tokenizer.bos_id() : previous, id);
            if (text.empty()) {  // a control token: its piece, without the blank lines some vocabularies put round it
                text = tokenizer.vocabulary().pieces.at(static_cast<size_t>(id));
                text.erase(0, text.find_first_not_of(" \n"));
                text.erase(text.find_last_not_of(" \n") + 1);
            }
        }
        previous = id;
        positions.push_back({{"pos", p.position},
                             {"token", id},
                             {"text", text},
                             {"held", p.caches},
                             {"merged", p.merged},
                             {"layers", p.per_layer}});
    }
    json out = {{"object", "cache.view"},
                {"slot", v.slot},
                {"policy", describe(cache.policy)},
                {"layers", v.view.n_layers},
                {"kv_heads", v.view.n_kv_heads},
                {"caches", v.view.n_layers * v.view.n_kv_heads},
                {"tokens", v.tokens},
                {"first_position", first},
                {"evictions", evicted.evictions},
                {"merges", evicted.merges},
                {"mean_value_norm", v.view.mean_value_norm()},
                {"positions", positions}};
    if (!config.layer_windows.empty()) {  // Gemma 3: which layers hold only their window
        json layers = json::array();
        for (uint32_t l = 0; l < config.n_layers; l++)
            layers.push_back({{"window", config.window(l)}, {"policy", describe(cache.layer(config, l))}});
        out["layer_caches"] = layers;
    }
    if (heads) {
        json all = json::array();
        for (uint32_t l = 0; l < v.view.n_layers; l++) {
            json layer = json::array();
            for (uint32_t h = 0; h < v.view.n_kv_heads; h++) {
                json entries = json::array();
                for (const HeldEntry& e : v.view.entries(l, h))
                    entries.push_back({{"pos", e.position},
                                       {"acc", e.acc},
                                       {"cnt", e.cnt},
                                       {"merged", e.merged},
                                       {"merge_weight", e.merge_weight}});
                layer.push_back(entries);
            }
            all.push_back(layer);
        }
        out["heads"] = all;  // [layer][kv head]: the entries in logical order
    }
    return out;
}

}  // namespace wkv
