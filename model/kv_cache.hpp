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
// Keys and values are f32, or f16 as an option: this reference then keeps
// floats but rounds every stored key and value to the nearest f16 (ties to
// even), exactly as the device packs them, so the two stay comparable.
#pragma once

#include <cstdint>
#include <vector>

#include "config.hpp"

namespace wkv {

enum class KvType { f32, f16 };  // how keys and values are stored

const char* kv_type_name(KvType type);                                              // "f32", "f16"
inline uint32_t kv_type_bytes(KvType type) { return type == KvType::f16 ? 2 : 4; }  // per stored element
// The key and value of one token in one layer's KV heads (layers hold different numbers of
// entries once some are sliding windows: Engine::kv_bytes_held sums them).
inline uint64_t kv_layer_entry_bytes(const ModelConfig& c, KvType type) {
    return uint64_t{2} * c.n_kv_heads * c.head_dim() * kv_type_bytes(type);
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
    KvCache(const ModelConfig& config, uint32_t capacity, KvType storage = KvType::f32);
    // `capacities`: one per layer.
    KvCache(const ModelConfig& config, std::vector<uint32_t> capacities, KvType storage = KvType::f32);

    uint32_t capacity(uint32_t layer) const { return capacities_[layer]; }
    uint32_t head_dim() const { return head_dim_; }
    uint32_t n_kv_heads() const { return n_kv_heads_; }
    KvType storage() const { return storage_; }
    // x as this cache stores it: itself in f32, rounded to the nearest f16 in f16.
    float stored(float x) const;
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
    // (f16 storage is emulated in floats here, so it does not shrink this).
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
    KvType storage_;
    std::vector<float> keys_;             // [layer][kv_head][slot][head_dim]
    std::vector<float> values_;           // [layer][kv_head][slot][head_dim]
    std::vector<float> acc_;              // [layer][kv_head][slot]
    std::vector<uint32_t> cnt_;           // [layer][kv_head][slot]
    std::vector<Provenance> provenance_;  // [layer][kv_head][slot]
    std::vector<HeadTables> tables_;      // [layer][kv_head]
};

}  // namespace wkv
