#include "cache_view.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace wkv {

EvictionCounts CacheView::total() const {
    EvictionCounts sum;
    for (const EvictionCounts& c : counts) {
        sum.evictions += c.evictions;
        sum.merges += c.merges;
    }
    return sum;
}

double CacheView::mean_value_norm() const {
    double sum = 0;
    size_t n = 0;
    for (const std::vector<HeldEntry>& head : heads) {
        for (const HeldEntry& e : head) sum += e.value_norm;
        n += head.size();
    }
    return n ? sum / static_cast<double>(n) : 0.0;
}

std::vector<HeldEntry> held_entries(std::span<const uint32_t> order, const float* acc, const uint32_t* cnt,
                                    const Provenance* provenance, const float* values, uint32_t head_dim) {
    std::vector<HeldEntry> out;
    out.reserve(order.size());
    for (uint32_t slot : order) {
        double norm = 0;
        for (uint32_t d = 0; d < head_dim; d++)
            norm += double{values[size_t{slot} * head_dim + d]} * values[size_t{slot} * head_dim + d];
        const Provenance& p = provenance[slot];
        out.push_back(
            {p.position, acc[slot], cnt[slot], p.merged, p.merge_weight, static_cast<float>(std::sqrt(norm))});
    }
    return out;
}

CacheView view_of(const KvCache& cache, uint32_t n_layers) {
    CacheView view{n_layers, cache.n_kv_heads(), {}, {}};
    for (uint32_t l = 0; l < n_layers; l++) {
        for (uint32_t h = 0; h < cache.n_kv_heads(); h++) {
            view.heads.push_back(held_entries(cache.order(l, h), cache.acc_by_slot(l, h), cache.cnt_by_slot(l, h),
                                              &cache.provenance(l, h, 0), cache.value(l, h, 0), cache.head_dim()));
            view.counts.push_back(cache.counts(l, h));
        }
    }
    return view;
}

std::vector<PositionHeld> held_positions(const CacheView& view, uint32_t first, uint32_t end) {
    std::vector<PositionHeld> out(end > first ? end - first : 0);
    for (size_t i = 0; i < out.size(); i++) {
        out[i].position = first + static_cast<uint32_t>(i);
        out[i].per_layer.assign(view.n_layers, 0);
    }
    for (uint32_t l = 0; l < view.n_layers; l++) {
        for (uint32_t h = 0; h < view.n_kv_heads; h++) {
            for (const HeldEntry& e : view.entries(l, h)) {
                if (e.position < first || e.position >= end) continue;
                PositionHeld& p = out[e.position - first];
                p.caches++;
                p.per_layer[l]++;
                if (e.merged > 0) p.merged++;
            }
        }
    }
    return out;
}

std::string cache_bars(const CacheView& view, uint32_t tokens, uint32_t width) {
    static constexpr char kShades[] = " .:-=+*#@";  // none ... all
    const uint32_t buckets = std::max(1u, std::min(width, tokens));
    const uint32_t per_bucket = std::max(1u, (tokens + buckets - 1) / buckets);
    const std::vector<PositionHeld> held = held_positions(view, 0, tokens);
    char line[64];
    std::snprintf(line, sizeof line, "cache: %u tokens, %u per column, a line per layer\n", tokens, per_bucket);
    std::string out = line;
    for (uint32_t l = 0; l < view.n_layers; l++) {
        std::snprintf(line, sizeof line, "layer %2u |", l);
        out += line;
        for (uint32_t first = 0; first < tokens; first += per_bucket) {
            const uint32_t end = std::min(tokens, first + per_bucket);
            uint64_t holders = 0;
            for (uint32_t p = first; p < end; p++) holders += held[p].per_layer[l];
            const double share = static_cast<double>(holders) / (static_cast<double>(view.n_kv_heads) * (end - first));
            // ' ' only when nothing is held, '@' only when everything is.
            const size_t shade = holders == 0 ? 0 : std::min<size_t>(8, 1 + static_cast<size_t>(share * 7.999));
            out += kShades[share >= 1.0 ? 8 : shade];
        }
        out += "|\n";
    }
    const EvictionCounts e = view.total();
    std::snprintf(line, sizeof line, "evictions %llu, merged %llu\n", static_cast<unsigned long long>(e.evictions),
                  static_cast<unsigned long long>(e.merges));
    return out + line;
}

std::vector<HeadChange> step_changes(const CacheView& before, const CacheView& after,
                                     std::span<const uint32_t> appended) {
    std::vector<HeadChange> out(after.heads.size());
    for (size_t h = 0; h < after.heads.size(); h++) {
        std::unordered_map<uint32_t, const HeldEntry*> was;  // by position
        if (h < before.heads.size()) {
            for (const HeldEntry& e : before.heads[h]) was[e.position] = &e;
        }
        std::unordered_map<uint32_t, bool> held;
        for (const HeldEntry& e : after.heads[h]) {
            held[e.position] = true;
            const auto it = was.find(e.position);
            const uint32_t merged_before = it == was.end() ? 0 : it->second->merged;
            const float weight_before = it == was.end() ? 0.0f : it->second->merge_weight;
            if (e.merged > merged_before)
                out[h].merged_into.push_back({e.position, e.merged - merged_before, e.merge_weight - weight_before});
        }
        for (const auto& [position, entry] : was) {
            if (!held.count(position)) out[h].evicted.push_back(position);
        }
        for (uint32_t position : appended) {
            if (!held.count(position) && !was.count(position)) out[h].evicted.push_back(position);
        }
        std::sort(out[h].evicted.begin(), out[h].evicted.end());
    }
    return out;
}

}  // namespace wkv
