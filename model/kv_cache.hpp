// The KV cache as a pool of fixed slots (architecture.md, "The KV cache ring").
//
// Per layer and KV head there are `capacity` physical slots (a number per
// layer: a sliding-window layer holds only its window) holding a key, a
// value, `acc` (attention received, summed over steps), `cnt` (steps since
// the entry arrived, counting its own) and its provenance (the token's
// position, and what was merged into its value). The logical order of the
// entries is a small table of slot indices; appending takes a slot from the
// free list and removing one returns it, so key/value data never moves.
// Everything is allocated in the constructor: the cache never grows.
//
// Keys and values are stored as f32, f16, q8_0 or q4_0 (model/kv_row.hpp),
// each its own type. This reference keeps floats, but every row it stores is
// rounded exactly as the device stores it, so the two stay comparable bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "kv_row.hpp"

namespace wkv {

// The storage types of keys and of values. One type converts to both.
struct KvTypes {
    KvType k = KvType::f32, v = KvType::f32;
    KvTypes() = default;
    KvTypes(KvType both) : k(both), v(both) {}  // NOLINT: "f16" means K and V f16
    KvTypes(KvType key, KvType value) : k(key), v(value) {}
    bool operator==(const KvTypes&) const = default;
};
// "f16" when both are, else "q8_0/f16" (K/V).
std::string kv_types_name(KvTypes types);
// The key and value of one token in one layer's KV heads, as the device stores them (layers hold
// different numbers of entries once some are sliding windows: Engine::kv_bytes_held sums them).
inline uint64_t kv_layer_entry_bytes(const ModelConfig& c, KvTypes types) {
    return uint64_t{c.n_kv_heads} * (kv_row_bytes(types.k, c.head_dim()) + kv_row_bytes(types.v, c.head_dim()));
}

// Where an entry's value came from: its own token's absolute position, and
// the evicted values a policy merged into it. `merged` counts tokens through
// chains (absorbing an entry that had absorbed k counts k + 1); `merge_weight`
// sums the weights the absorbed values were added with (WeightedKV's
// a_j / (a_j + a_{j+1}), CaM's 1/n), so 0 means the value is the token's own.
struct Provenance {
    uint32_t position = 0;
    uint32_t merged = 0;
    float merge_weight = 0.0f;
};
static_assert(sizeof(Provenance) == 12);  // the device's layout (shaders/kv_cache.glsl)

// What a policy did to one KV head of one layer since the cache was last empty.
struct EvictionCounts {
    uint64_t evictions = 0;  // entries dropped
    uint64_t merges = 0;     // of them, those whose value was merged into others first
};

class KvCache {
public:
    KvCache(const ModelConfig& config, uint32_t capacity, KvTypes storage = KvType::f32);
    // `capacities`: one per layer.
    KvCache(const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes storage = KvType::f32);

    uint32_t capacity(uint32_t layer) const { return capacities_[layer]; }
    uint32_t head_dim() const { return head_dim_; }
    uint32_t n_kv_heads() const { return n_kv_heads_; }
    KvTypes storage() const { return storage_; }
    // A key (value) row replaced by what this cache stores of it.
    void round_key(float* row) const { round_kv_row(storage_.k, row, head_dim_); }
    void round_value(float* row) const { round_kv_row(storage_.v, row, head_dim_); }
    uint32_t length(uint32_t layer, uint32_t kv_head) const {
        return static_cast<uint32_t>(head(layer, kv_head).order.size());
    }

    // Physical slot of the entry at logical index `index` (0 = oldest).
    uint32_t slot(uint32_t layer, uint32_t kv_head, uint32_t index) const { return head(layer, kv_head).order[index]; }

    const std::vector<uint32_t>& order(uint32_t layer, uint32_t kv_head) const { return head(layer, kv_head).order; }
    const std::vector<uint32_t>& free_slots(uint32_t layer, uint32_t kv_head) const {
        return head(layer, kv_head).free;
    }

    // Takes a free slot, places it last in the logical order, clears its
    // acc/cnt and marks it as the token at `position`; returns the slot.
    // Throws wkv::Error when no slot is free.
    uint32_t append(uint32_t layer, uint32_t kv_head, uint32_t position);
    // Evicts the entry at logical index `index` and frees its slot; `merged`:
    // its value went into others first.
    void remove(uint32_t layer, uint32_t kv_head, uint32_t index, bool merged = false);
    // Records that the value in `from` was added into the value in `into` with `weight`.
    void note_merge(uint32_t layer, uint32_t kv_head, uint32_t from, uint32_t into, float weight);

    float* key(uint32_t layer, uint32_t kv_head, uint32_t slot) {
        return &keys_[offset(layer, kv_head, slot) * head_dim_];
    }
    float* value(uint32_t layer, uint32_t kv_head, uint32_t slot) {
        return &values_[offset(layer, kv_head, slot) * head_dim_];
    }
    const float* key(uint32_t layer, uint32_t kv_head, uint32_t slot) const {
        return &keys_[offset(layer, kv_head, slot) * head_dim_];
    }
    const float* value(uint32_t layer, uint32_t kv_head, uint32_t slot) const {
        return &values_[offset(layer, kv_head, slot) * head_dim_];
    }
    float& acc(uint32_t layer, uint32_t kv_head, uint32_t slot) { return acc_[offset(layer, kv_head, slot)]; }
    uint32_t& cnt(uint32_t layer, uint32_t kv_head, uint32_t slot) { return cnt_[offset(layer, kv_head, slot)]; }
    float acc(uint32_t layer, uint32_t kv_head, uint32_t slot) const { return acc_[offset(layer, kv_head, slot)]; }
    uint32_t cnt(uint32_t layer, uint32_t kv_head, uint32_t slot) const { return cnt_[offset(layer, kv_head, slot)]; }
    const Provenance& provenance(uint32_t layer, uint32_t kv_head, uint32_t slot) const {
        return provenance_[offset(layer, kv_head, slot)];
    }
    const EvictionCounts& counts(uint32_t layer, uint32_t kv_head) const { return head(layer, kv_head).counts; }
    // One KV head's acc and cnt, indexed by slot.
    const float* acc_by_slot(uint32_t layer, uint32_t kv_head) const { return &acc_[offset(layer, kv_head, 0)]; }
    const uint32_t* cnt_by_slot(uint32_t layer, uint32_t kv_head) const { return &cnt_[offset(layer, kv_head, 0)]; }

    // Removes every entry (every slot free again, as after construction).
    void clear();

    // Bytes allocated for keys, values, bookkeeping and the order/free tables
    // (every type is emulated in floats here, so none shrinks this).
    uint64_t bytes() const;
    // What bytes() is for a cache of these slots per layer, before making one.
    static uint64_t bytes_for(const ModelConfig& config, const std::vector<uint32_t>& capacities);

private:
    struct HeadTables {
        std::vector<uint32_t> order;  // logical index -> slot
        std::vector<uint32_t> free;   // stack of free slots
        EvictionCounts counts;
    };
    uint64_t offset(uint32_t layer, uint32_t kv_head, uint32_t slot) const {
        return layer_first_[layer] + uint64_t{kv_head} * capacities_[layer] + slot;
    }
    HeadTables& head(uint32_t layer, uint32_t kv_head) { return tables_[layer * n_kv_heads_ + kv_head]; }
    const HeadTables& head(uint32_t layer, uint32_t kv_head) const { return tables_[layer * n_kv_heads_ + kv_head]; }

    uint32_t n_kv_heads_;
    uint32_t head_dim_;
    std::vector<uint32_t> capacities_;   // [layer]
    std::vector<uint64_t> layer_first_;  // [layer]: the offset of its first slot
    KvTypes storage_;
    std::vector<float> keys_;             // [layer][kv_head][slot][head_dim]
    std::vector<float> values_;           // [layer][kv_head][slot][head_dim]
    std::vector<float> acc_;              // [layer][kv_head][slot]
    std::vector<uint32_t> cnt_;           // [layer][kv_head][slot]
    std::vector<Provenance> provenance_;  // [layer][kv_head][slot]
    std::vector<HeadTables> tables_;      // [layer][kv_head]
};

}  // namespace wkv
