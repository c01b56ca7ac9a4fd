// What a sequence's KV cache holds, read when someone asks (a test, `wkv chat`'s
// /cache, `wkv serve`'s /v1/cache, a trace), never on the hot path: for every
// layer and KV head the entries in logical order, each with its token's
// original position, its attention scores and what was merged into its value.
// The CPU reference and the Vulkan engine give the same view for the same steps.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kv_cache.hpp"

namespace wkv {

struct HeldEntry {
    uint32_t position = 0;  // the token's absolute position
    float acc = 0;          // attention received, summed over steps
    uint32_t cnt = 0;       // steps seen, its own included
    uint32_t merged = 0;    // tokens whose values were merged into this one (Provenance)
    float merge_weight = 0;
    float value_norm = 0;  // |V|, to watch merges grow values (CaM)
};

struct CacheView {
    uint32_t n_layers = 0, n_kv_heads = 0;
    std::vector<std::vector<HeldEntry>> heads;  // [layer * n_kv_heads + head]: entries in logical order
    std::vector<EvictionCounts> counts;         // [layer * n_kv_heads + head]

    const std::vector<HeldEntry>& entries(uint32_t layer, uint32_t head) const {
        return heads[size_t{layer} * n_kv_heads + head];
    }
    EvictionCounts total() const;  // over every layer and head
    double mean_value_norm() const;
};

// The entries of one KV head from its slot-indexed arrays (the CPU cache's or
// the device's layout): `order` lists the slots held, oldest first.
std::vector<HeldEntry> held_entries(std::span<const uint32_t> order, const float* acc, const uint32_t* cnt,
                                    const Provenance* provenance, const float* values, uint32_t head_dim);

// The CPU reference's cache.
CacheView view_of(const KvCache& cache, uint32_t n_layers);

// How widely each position is held: the summary a page or a terminal can show
// without a line per head.
struct PositionHeld {
    uint32_t position = 0;
    uint32_t caches = 0;              // (layer, head) caches holding it
    uint32_t merged = 0;              // of them, those whose value absorbed evicted tokens
    std::vector<uint16_t> per_layer;  // heads holding it, per layer
};
// Every position in [first, end), in order (one not held has caches = 0).
std::vector<PositionHeld> held_positions(const CacheView& view, uint32_t first, uint32_t end);

// A compact text picture of the view for a terminal: a line per layer, the
// positions [0, tokens) in `width` buckets, each a character by the share of
// the layer's (head, position) pairs in it still held: ' ' none, then
// ".:-=+*#" up to '@' all. A last line counts evictions and merges.
std::string cache_bars(const CacheView& view, uint32_t tokens, uint32_t width = 64);

// What one step did to a KV head, found by comparing its views before and
// after: the positions it evicted, and the entries whose values absorbed
// others (matched by position), with how many tokens and how much weight each
// gained. A step of one token evicts at most one; a prompt chunk may evict more.
struct MergeInto {
    uint32_t position = 0;
    uint32_t merged = 0;  // tokens gained
    float weight = 0;     // merge weight gained
};
struct HeadChange {
    std::vector<uint32_t> evicted;
    std::vector<MergeInto> merged_into;
};
// [layer * n_kv_heads + head]; `before` may be empty (a fresh cache: nothing to compare).
// `appended`: the positions the step fed (an entry that came and went at once was evicted too).
std::vector<HeadChange> step_changes(const CacheView& before, const CacheView& after,
                                     std::span<const uint32_t> appended);

}  // namespace wkv
