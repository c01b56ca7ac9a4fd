// The KV cache on the device, allocated once: per layer, buffers whose
// sections hold per KV head the keys and values of `capacity` physical slots,
// acc/cnt bookkeeping, the logical order table, the free-slot stack and the
// counts, the provenance of every entry, plus the last step's attention
// probabilities per query head. The layout mirrors KvCache (model/kv_cache.hpp) slot for slot.
//
// A layer is one buffer unless that would exceed the device's limits on one
// buffer (maxStorageBufferRange, maxMemoryAllocationSize): then its KV heads
// are split into groups of consecutive heads, one buffer each. Heads never
// look at each other's entries, so each group is a cache of its own; the
// shaders run once per group and only TOVA's head mean spans them all.
//
// The rings of a batch (KvCacheRing::batch) share buffers: each layer's groups
// of every ring are packed one after another into as few buffers as the limits
// allow, so a cache shader serves every sequence of the batch in one dispatch
// (runtime/kernels.hpp). Each ring still has its own fixed slots; nothing moves.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "buffer.hpp"
#include "cache_view.hpp"
#include "config.hpp"
#include "kv_cache.hpp"

namespace wkv {

// One layer's sections for a group of its KV heads (usually all of them), in
// the order shaders/kv_cache.glsl binds them (0..8). Indices in the sections
// count from the group's first head.
struct KvLayer {
    KvTypes type;            // of keys and of values: rows of 32-bit words (model/kv_row.hpp)
    uint32_t first_head;     // the group's first KV head in the layer
    uint32_t n_heads;        // KV heads in the group
    BufferRange keys;        // [kv_head][slot]: a row of kv_row_words(type.k, head_dim)
    BufferRange values;      // [kv_head][slot]: a row of kv_row_words(type.v, head_dim)
    BufferRange acc;         // f32 [kv_head][slot]
    BufferRange cnt;         // u32 [kv_head][slot]
    BufferRange order;       // u32 [kv_head][capacity]: logical index -> slot
    BufferRange free;        // u32 [kv_head][capacity]: stack of free slots
    BufferRange counts;      // u32 [kv_head][4]: entries, free slots, evictions, merges (kv_cache.glsl's COUNTS)
    BufferRange probs;       // f32 [query head][capacity]: the last single token's attention (a prompt
                             // chunk's tokens keep theirs in the engine's buffer, CacheTask::chunk_probs)
    BufferRange last;        // f32 [capacity]: last step's attention averaged over all the layer's query heads
                             // (TOVA); one section per layer, shared by its groups
    BufferRange provenance;  // Provenance [kv_head][slot]
};

// Fields per KV head in a `counts` section.
constexpr uint32_t kHeadCounts = 4;

// One layer's cache read back to the host (for tests and `wkv conformance`);
// keys and values are floats whatever the ring stores.
struct KvLayerSnapshot {
    std::vector<float> keys, values, acc, probs, last;
    std::vector<uint32_t> cnt, order, free, counts;
    std::vector<Provenance> provenance;
};

// One layer of a CPU cache in the ring's layout (probs zero, `last` as given,
// padded to the layer's capacity), so both sides can start from the same state.
KvLayerSnapshot snapshot_of(const KvCache& cache, uint32_t layer, uint32_t n_query_heads,
                            const std::vector<float>& last = {});

// Whether two snapshots hold the same entries in the same slots: equal counts,
// equal order tables and free stacks up to those counts (past them is unused
// space), and the same position and merge count for every entry held.
bool same_tables(const KvLayerSnapshot& a, const KvLayerSnapshot& b, uint32_t capacity);

struct RingShape {
    std::vector<uint32_t> capacities;  // per layer (CacheSettings::layer_slots)
    KvTypes type;
};

class KvCacheRing {
public:
    // max_buffer_bytes: split layers above this (0 = the device's DeviceInfo::max_buffer_bytes(); tests force smaller).
    KvCacheRing(Context& ctx, const ModelConfig& config, uint32_t capacity, KvTypes type = KvType::f32,
                uint64_t max_buffer_bytes = 0);
    // `capacities`: one per layer.
    KvCacheRing(Context& ctx, const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes type,
                uint64_t max_buffer_bytes = 0);
    // A ring per shape, packed into shared buffers layer by layer (each buffer
    // within max_buffer_bytes as above).
    static std::vector<std::unique_ptr<KvCacheRing>> batch(Context& ctx, const ModelConfig& config,
                                                           const std::vector<RingShape>& shapes,
                                                           uint64_t max_buffer_bytes = 0);

    uint32_t capacity(uint32_t l) const { return capacities_[l]; }
    KvTypes type() const { return type_; }
    // Layer l's groups of KV heads, in head order.
    const std::vector<KvLayer>& layer(uint32_t l) const { return layers_[l]; }
    uint64_t bytes() const;  // every byte of its own, padding included (bytes_for)

    // What a ring of this shape allocates (bytes() before building one), and
    // its largest buffer; max_buffer_bytes as for the constructor, 0 = no limit.
    static uint64_t bytes_for(const ModelConfig& config, const std::vector<uint32_t>& capacities, KvTypes type,
                              uint64_t max_buffer_bytes = 0);
    static uint64_t largest_buffer_for(const ModelConfig& config, const std::vector<uint32_t>& capacities, KvTypes type,
                                       uint64_t max_buffer_bytes = 0);
    // Groups of KV heads in its most split layer (1 unless a layer is split).
    static uint32_t groups_for(const ModelConfig& config, const std::vector<uint32_t>& capacities, KvTypes type,
                               uint64_t max_buffer_bytes);
    void clear();  // empty every layer (a fresh cache, e.g. per evaluation window)
    KvLayerSnapshot read_layer(uint32_t l) const;
    // What every layer holds (CacheView), read back from the device.
    CacheView view() const;
    // Evictions and merges over every layer and KV head: only the counters are read back.
    EvictionCounts eviction_counts() const;
    // Sets a layer's whole state (tests put hand-built states on the device this way);
    // every vector must have its section's size.
    void write_layer(uint32_t l, const KvLayerSnapshot& snapshot);

private:
    KvCacheRing(const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes type);
    // Places every group of every ring, layer by layer, in buffers shared by the rings.
    static void allocate(Context& ctx, const std::vector<KvCacheRing*>& rings, uint64_t max_buffer_bytes);
    Buffer& owned(const BufferRange& r) {
        return (*storage_)[static_cast<size_t>(r.buffer - storage_->data())];
    }  // writable

    ModelConfig config_;
    std::vector<uint32_t> capacities_;  // [layer]
    KvTypes type_;
    std::shared_ptr<std::vector<Buffer>> storage_;  // shared by the rings of a batch
    std::vector<std::vector<KvLayer>> layers_;
    std::vector<std::vector<BufferRange>> blocks_;  // [layer][group]: all of the group's sections
};

}  // namespace wkv
