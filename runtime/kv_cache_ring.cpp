#include "kv_cache_ring.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "error.hpp"
#include "memory_plan.hpp"  // format_bytes
#include "tensor.hpp"

namespace wkv {

namespace {

// Every section starts at a multiple of this, above any device's minStorageBufferOffsetAlignment.
constexpr uint64_t kSectionAlignment = 256;

uint64_t align(uint64_t n) { return (n + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment; }

// A group's block read back: its bytes, and where they start in the buffer.
struct BlockBytes {
    std::vector<uint8_t> bytes;
    uint64_t offset;
};

template <typename T>
std::vector<T> slice(const BlockBytes& block, const BufferRange& r) {
    std::vector<T> out(r.size / sizeof(T));
    std::memcpy(out.data(), block.bytes.data() + (r.offset - block.offset), r.size);
    return out;
}

// Keys or values as floats, from rows of the ring's words (model/kv_row.hpp).
std::vector<float> unpack(const BlockBytes& bytes, const BufferRange& r, KvType type, uint32_t head_dim) {
    const std::vector<uint32_t> words = slice<uint32_t>(bytes, r);
    const uint32_t row_words = kv_row_words(type, head_dim);
    std::vector<float> out(words.size() / row_words * head_dim);
    for (size_t row = 0; row * row_words < words.size(); row++)
        decode_kv_row(type, &words[row * row_words], head_dim, &out[row * head_dim]);
    return out;
}

// Floats to the words of a keys or values section, row by row.
std::vector<uint32_t> pack(const std::vector<float>& v, KvType type, uint32_t head_dim) {
    const uint32_t row_words = kv_row_words(type, head_dim);
    std::vector<uint32_t> out(v.size() / head_dim * row_words);
    for (size_t row = 0; row * head_dim < v.size(); row++)
        encode_kv_row(type, &v[row * head_dim], head_dim, &out[row * row_words]);
    return out;
}

constexpr size_t kSections = 10;

// The bytes of each section of one group's buffer, in KvLayer order; `last`
// only in a layer's first group, which holds it for all.
std::array<uint64_t, kSections> section_bytes(const ModelConfig& config, uint32_t capacity, KvTypes types,
                                              uint32_t heads, bool first) {
    const uint64_t slots = uint64_t{heads} * capacity;
    return {
        slots * kv_row_bytes(types.k, config.head_dim()),      // keys
        slots * kv_row_bytes(types.v, config.head_dim()),      // values
        slots * 4,                                             // acc
        slots * 4,                                             // cnt
        slots * 4,                                             // order
        slots * 4,                                             // free
        uint64_t{heads} * kHeadCounts * 4,                     // counts
        uint64_t{heads} * config.group_size() * capacity * 4,  // probs
        first ? uint64_t{capacity} * 4 : 0,                    // last
        slots * sizeof(Provenance),                            // provenance
    };
}

uint64_t buffer_bytes(const std::array<uint64_t, kSections>& sections) {
    uint64_t total = 0;
    for (uint64_t b : sections) total += align(b);
    return total;
}

// KV heads per group: all of them if a layer fits one buffer, else the most
// whose buffer fits (at least one, which the caller checks).
uint32_t heads_per_group(const ModelConfig& config, uint32_t capacity, KvTypes type, uint64_t max_buffer_bytes) {
    uint32_t heads = config.n_kv_heads;
    while (heads > 1 && max_buffer_bytes &&
           buffer_bytes(section_bytes(config, capacity, type, heads, true)) > max_buffer_bytes)
        heads--;
    return heads;
}

// The heads of each group of a layer, in order.
std::vector<uint32_t> group_heads(const ModelConfig& config, uint32_t capacity, KvTypes type,
                                  uint64_t max_buffer_bytes) {
    const uint32_t per_group = heads_per_group(config, capacity, type, max_buffer_bytes);
    std::vector<uint32_t> groups;
    for (uint32_t first = 0; first < config.n_kv_heads; first += per_group)
        groups.push_back(std::min(per_group, config.n_kv_heads - first));
    return groups;
}

}  // namespace

uint64_t KvCacheRing::bytes_for(const ModelConfig& config, const std::vector<uint32_t>& capacities, KvTypes type,
                                uint64_t max_buffer_bytes) {
    uint64_t total = 0;
    for (uint32_t capacity : capacities) {
        bool first = true;
        for (uint32_t heads : group_heads(config, capacity, type, max_buffer_bytes)) {
            total += buffer_bytes(section_bytes(config, capacity, type, heads, first));
            first = false;
        }
    }
    return total;
}

uint64_t KvCacheRing::largest_buffer_for(const ModelConfig& config, const std::vector<uint32_t>& capacities,
                                         KvTypes type, uint64_t max_buffer_bytes) {
    // A layer's first group is its largest: the most heads, and `last`.
    uint64_t largest = 0;
    for (uint32_t capacity : capacities) {
        const uint32_t heads = group_heads(config, capacity, type, max_buffer_bytes)[0];
        largest = std::max(largest, buffer_bytes(section_bytes(config, capacity, type, heads, true)));
    }
    return largest;
}

uint32_t KvCacheRing::groups_for(const ModelConfig& config, const std::vector<uint32_t>& capacities, KvTypes type,
                                 uint64_t max_buffer_bytes) {
    size_t most = 1;
    for (uint32_t capacity : capacities)
        most = std::max(most, group_heads(config, capacity, type, max_buffer_bytes).size());
    return static_cast<uint32_t>(most);
}

KvCacheRing::KvCacheRing(const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes type)
    : config_(config), capacities_(std::move(capacities)), type_(type) {
    if (capacities_.size() != config_.n_layers) throw std::logic_error("KvCacheRing needs a capacity per layer");
}

KvCacheRing::KvCacheRing(Context& ctx, const ModelConfig& config, uint32_t capacity, KvTypes type,
                         uint64_t max_buffer_bytes)
    : KvCacheRing(ctx, config, std::vector<uint32_t>(config.n_layers, capacity), type, max_buffer_bytes) {}

KvCacheRing::KvCacheRing(Context& ctx, const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes type,
                         uint64_t max_buffer_bytes)
    : KvCacheRing(config, std::move(capacities), type) {
    allocate(ctx, {this}, max_buffer_bytes);
}

std::vector<std::unique_ptr<KvCacheRing>> KvCacheRing::batch(Context& ctx, const ModelConfig& config,
                                                             const std::vector<RingShape>& shapes,
                                                             uint64_t max_buffer_bytes) {
    std::vector<std::unique_ptr<KvCacheRing>> rings;
    std::vector<KvCacheRing*> raw;
    for (const RingShape& s : shapes) {
        rings.emplace_back(new KvCacheRing(config, s.capacities, s.type));
        raw.push_back(rings.back().get());
    }
    allocate(ctx, raw, max_buffer_bytes);
    return rings;
}

void KvCacheRing::allocate(Context& ctx, const std::vector<KvCacheRing*>& rings, uint64_t max_buffer_bytes) {
    const uint64_t limit = max_buffer_bytes ? max_buffer_bytes : ctx.info().max_buffer_bytes();
    std::vector<std::vector<std::vector<uint32_t>>> groups;  // [ring][layer]: the heads of each group
    for (const KvCacheRing* r : rings) {
        // The memory plan refuses this first, with advice; this is the last line of defence.
        if (const uint64_t one_head = largest_buffer_for(r->config_, r->capacities_, r->type_, limit);
            one_head > limit) {
            throw Error("the KV cache of one head of a layer needs " + format_bytes(one_head) +
                            " in one buffer, above the device's limit of " + format_bytes(limit),
                        ExitCode::device);
        }
        groups.emplace_back();
        for (uint32_t capacity : r->capacities_)
            groups.back().push_back(group_heads(r->config_, capacity, r->type_, limit));
    }
    // Where each group goes: [ring][layer][group] -> (buffer, offset). A layer's
    // groups fill a buffer of their type in ring order, the next one when it is full.
    struct Place {
        size_t buffer;
        uint64_t offset;
    };
    std::vector<std::vector<std::vector<Place>>> places(rings.size());
    std::vector<uint64_t> sizes;
    const uint32_t n_layers = rings.front()->config_.n_layers;
    for (uint32_t l = 0; l < n_layers; l++) {
        std::array<size_t, 16> open;  // by K and V type: this layer's buffer being filled
        open.fill(SIZE_MAX);
        for (size_t r = 0; r < rings.size(); r++) {
            places[r].emplace_back();
            size_t& current = open[4 * static_cast<size_t>(rings[r]->type_.k) + static_cast<size_t>(rings[r]->type_.v)];
            bool first = true;
            for (uint32_t heads : groups[r][l]) {
                const uint64_t bytes = buffer_bytes(
                    section_bytes(rings[r]->config_, rings[r]->capacities_[l], rings[r]->type_, heads, first));
                if (current == SIZE_MAX || sizes[current] + bytes > limit) {
                    current = sizes.size();
                    sizes.push_back(0);
                }
                places[r].back().push_back({current, sizes[current]});
                sizes[current] += bytes;
                first = false;
            }
        }
    }
    // All buffers first: the ranges below point at them, so the vector must not move them again.
    auto storage = std::make_shared<std::vector<Buffer>>();
    storage->reserve(sizes.size());
    for (uint64_t bytes : sizes) storage->emplace_back(ctx, bytes, Memory::device_local);
    for (size_t r = 0; r < rings.size(); r++) {
        KvCacheRing& ring = *rings[r];
        ring.storage_ = storage;
        for (uint32_t l = 0; l < n_layers; l++) {
            ring.layers_.emplace_back();
            ring.blocks_.emplace_back();
            uint32_t first_head = 0;
            for (size_t g = 0; g < groups[r][l].size(); g++) {
                const uint32_t heads = groups[r][l][g];
                const Place at = places[r][l][g];
                const Buffer& b = (*storage)[at.buffer];
                const std::array<uint64_t, kSections> section_sizes =
                    section_bytes(ring.config_, ring.capacities_[l], ring.type_, heads, first_head == 0);
                std::array<BufferRange, kSections> s;
                uint64_t offset = at.offset;
                for (size_t i = 0; i < section_sizes.size(); i++) {
                    s[i] = BufferRange(b, offset, section_sizes[i]);
                    offset += align(section_sizes[i]);
                }
                if (first_head > 0) s[8] = ring.layers_.back().front().last;
                ring.layers_.back().push_back(
                    {ring.type_, first_head, heads, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]});
                ring.blocks_.back().push_back(BufferRange(b, at.offset, offset - at.offset));
                first_head += heads;
            }
        }
        ring.clear();
    }
}

KvLayerSnapshot snapshot_of(const KvCache& cache, uint32_t layer, uint32_t n_query_heads,
                            const std::vector<float>& last) {
    const uint32_t heads = cache.n_kv_heads(), cap = cache.capacity(layer), hd = cache.head_dim();
    KvLayerSnapshot s;
    s.keys.assign(size_t{heads} * cap * hd, 0.0f);
    s.values.assign(size_t{heads} * cap * hd, 0.0f);
    s.acc.assign(size_t{heads} * cap, 0.0f);
    s.cnt.assign(size_t{heads} * cap, 0);
    s.order.assign(size_t{heads} * cap, 0);
    s.free.assign(size_t{heads} * cap, 0);
    s.counts.assign(size_t{heads} * kHeadCounts, 0);
    s.provenance.assign(size_t{heads} * cap, {});
    s.probs.assign(size_t{n_query_heads} * cap, 0.0f);
    s.last.assign(cap, 0.0f);
    std::copy(last.begin(), last.begin() + std::min<size_t>(last.size(), cap), s.last.begin());
    for (uint32_t h = 0; h < heads; h++) {
        for (uint32_t slot = 0; slot < cap; slot++) {
            std::copy(cache.key(layer, h, slot), cache.key(layer, h, slot) + hd,
                      &s.keys[(size_t{h} * cap + slot) * hd]);
            std::copy(cache.value(layer, h, slot), cache.value(layer, h, slot) + hd,
                      &s.values[(size_t{h} * cap + slot) * hd]);
            s.acc[h * cap + slot] = cache.acc(layer, h, slot);
            s.cnt[h * cap + slot] = cache.cnt(layer, h, slot);
            s.provenance[h * cap + slot] = cache.provenance(layer, h, slot);
        }
        const auto& order = cache.order(layer, h);
        const auto& free = cache.free_slots(layer, h);
        std::copy(order.begin(), order.end(), &s.order[h * cap]);
        std::copy(free.begin(), free.end(), &s.free[h * cap]);
        const EvictionCounts& evicted = cache.counts(layer, h);
        s.counts[kHeadCounts * h] = static_cast<uint32_t>(order.size());
        s.counts[kHeadCounts * h + 1] = static_cast<uint32_t>(free.size());
        s.counts[kHeadCounts * h + 2] = static_cast<uint32_t>(evicted.evictions);
        s.counts[kHeadCounts * h + 3] = static_cast<uint32_t>(evicted.merges);
    }
    return s;
}

bool same_tables(const KvLayerSnapshot& a, const KvLayerSnapshot& b, uint32_t capacity) {
    if (a.counts != b.counts) return false;
    for (size_t h = 0; h < a.counts.size() / kHeadCounts; h++) {
        const uint32_t entries = a.counts[kHeadCounts * h], free = a.counts[kHeadCounts * h + 1];
        const auto live = [&](const std::vector<uint32_t>& v, uint32_t n) {
            return std::vector<uint32_t>(v.begin() + h * capacity, v.begin() + h * capacity + n);
        };
        if (live(a.order, entries) != live(b.order, entries)) return false;
        if (live(a.free, free) != live(b.free, free)) return false;
        for (uint32_t i = 0; i < entries; i++) {
            const size_t slot = h * capacity + a.order[h * capacity + i];
            const Provenance &x = a.provenance[slot], &y = b.provenance[slot];
            if (x.position != y.position || x.merged != y.merged) return false;
        }
    }
    return true;
}

uint64_t KvCacheRing::bytes() const {
    uint64_t total = 0;
    for (const std::vector<BufferRange>& layer : blocks_) {
        for (const BufferRange& block : layer) total += block.size;
    }
    return total;
}

void KvCacheRing::clear() {
    // As KvCache: no entries, every slot free, slot 0 on top of the stack.
    for (size_t l = 0; l < layers_.size(); l++) {
        for (size_t i = 0; i < layers_[l].size(); i++) {
            const KvLayer& g = layers_[l][i];
            const BufferRange& block = blocks_[l][i];
            const uint32_t capacity = capacities_[l];
            std::vector<uint32_t> free(size_t{g.n_heads} * capacity), counts(size_t{g.n_heads} * kHeadCounts, 0);
            for (uint32_t h = 0; h < g.n_heads; h++) {
                for (uint32_t j = 0; j < capacity; j++) free[h * capacity + j] = capacity - 1 - j;
                counts[kHeadCounts * h + 1] = capacity;
            }
            Buffer& b = owned(block);
            const std::vector<uint8_t> zeros(block.size, 0);
            b.upload(zeros.data(), zeros.size(), block.offset);
            b.upload(free.data(), free.size() * 4, g.free.offset);
            b.upload(counts.data(), counts.size() * 4, g.counts.offset);
        }
    }
}

KvLayerSnapshot KvCacheRing::read_layer(uint32_t l) const {
    // The groups' sections one after another make the layer's: every section is head-major.
    KvLayerSnapshot out;
    auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
    for (size_t i = 0; i < layers_[l].size(); i++) {
        const KvLayer& g = layers_[l][i];
        const BufferRange& block = blocks_[l][i];  // only the group's own sections
        BlockBytes bytes{std::vector<uint8_t>(block.size), block.offset};
        block.buffer->download(bytes.bytes.data(), block.size, block.offset);
        append(out.keys, unpack(bytes, g.keys, type_.k, config_.head_dim()));
        append(out.values, unpack(bytes, g.values, type_.v, config_.head_dim()));
        append(out.acc, slice<float>(bytes, g.acc));
        append(out.probs, slice<float>(bytes, g.probs));
        append(out.cnt, slice<uint32_t>(bytes, g.cnt));
        append(out.order, slice<uint32_t>(bytes, g.order));
        append(out.free, slice<uint32_t>(bytes, g.free));
        append(out.counts, slice<uint32_t>(bytes, g.counts));
        append(out.provenance, slice<Provenance>(bytes, g.provenance));
    }
    const BufferRange& last = layers_[l].front().last;
    out.last.resize(last.size / 4);
    last.buffer->download(out.last.data(), last.size, last.offset);
    return out;
}

CacheView KvCacheRing::view() const {
    CacheView view{config_.n_layers, config_.n_kv_heads, {}, {}};
    const uint32_t hd = config_.head_dim();
    for (uint32_t l = 0; l < config_.n_layers; l++) {
        const KvLayerSnapshot s = read_layer(l);
        for (uint32_t h = 0; h < config_.n_kv_heads; h++) {
            const uint32_t* counts = &s.counts[size_t{kHeadCounts} * h];
            const size_t first = size_t{h} * capacities_[l];
            view.heads.push_back(held_entries(std::span(&s.order[first], counts[0]), &s.acc[first], &s.cnt[first],
                                              &s.provenance[first], &s.values[first * hd], hd));
            view.counts.push_back({counts[2], counts[3]});
        }
    }
    return view;
}

EvictionCounts KvCacheRing::eviction_counts() const {
    EvictionCounts total;
    for (const auto& layer : layers_) {
        for (const KvLayer& g : layer) {
            std::vector<uint32_t> counts(g.counts.size / sizeof(uint32_t));
            g.counts.buffer->download(counts.data(), g.counts.size, g.counts.offset);
            for (size_t h = 0; h + kHeadCounts <= counts.size(); h += kHeadCounts) {
                total.evictions += counts[h + 2];
                total.merges += counts[h + 3];
            }
        }
    }
    return total;
}

void KvCacheRing::write_layer(uint32_t l, const KvLayerSnapshot& s) {
    for (const KvLayer& g : layers_[l]) {
        // The group's part of a head-major section of `per_head` elements per head.
        auto part = [&](const auto& v, uint64_t per_head) {
            using T = typename std::decay_t<decltype(v)>::value_type;
            const auto from = v.begin() + static_cast<ptrdiff_t>(g.first_head * per_head);
            return std::vector<T>(from, from + static_cast<ptrdiff_t>(g.n_heads * per_head));
        };
        auto put = [&](const auto& v, const BufferRange& r) { owned(r).upload(v.data(), r.size, r.offset); };
        const uint64_t slots = capacities_[l], elements = slots * config_.head_dim();
        put(pack(part(s.keys, elements), type_.k, config_.head_dim()), g.keys);
        put(pack(part(s.values, elements), type_.v, config_.head_dim()), g.values);
        put(part(s.acc, slots), g.acc);
        put(part(s.probs, slots * config_.group_size()), g.probs);
        put(part(s.cnt, slots), g.cnt);
        put(part(s.order, slots), g.order);
        put(part(s.free, slots), g.free);
        put(part(s.counts, kHeadCounts), g.counts);
        put(part(s.provenance, slots), g.provenance);
    }
    const BufferRange& last = layers_[l].front().last;
    owned(last).upload(s.last.data(), last.size, last.offset);
}

}  // namespace wkv
