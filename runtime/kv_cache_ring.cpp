#include "kv_cache_ring.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "tensor.hpp"

namespace wkv {

namespace {

// Every section starts at a multiple of this, above any device's minStorageBufferOffsetAlignment.
constexpr uint64_t kSectionAlignment = 256;

uint64_t align(uint64_t n) { return (n + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment; }

template <typename T>
std::vector<T> slice(const std::vector<uint8_t>& bytes, const BufferRange& r) {
    std::vector<T> out(r.size / sizeof(T));
    std::memcpy(out.data(), bytes.data() + r.offset, r.size);
    return out;
}

// Keys or values as floats, from the ring's f32 or f16 words.
std::vector<float> unpack(const std::vector<uint8_t>& bytes, const BufferRange& r, KvType type) {
    if (type == KvType::f32) return slice<float>(bytes, r);
    const std::vector<uint16_t> halves = slice<uint16_t>(bytes, r);
    std::vector<float> out(halves.size());
    for (size_t i = 0; i < halves.size(); i++) out[i] = f16_to_f32(halves[i]);
    return out;
}

// Floats to the bytes of an f32 or f16 section (f16: rounded to nearest even,
// low half first, as packHalf2x16 lays out a pair).
std::vector<uint8_t> pack(const std::vector<float>& v, KvType type) {
    std::vector<uint8_t> out(v.size() * kv_type_bytes(type));
    if (type == KvType::f32) {
        std::memcpy(out.data(), v.data(), out.size());
        return out;
    }
    for (size_t i = 0; i < v.size(); i++) {
        const uint16_t h = f32_to_f16(v[i]);
        std::memcpy(out.data() + 2 * i, &h, 2);
    }
    return out;
}

// The bytes of each section of one layer's buffer, in KvLayer order.
std::array<uint64_t, 9> section_bytes(const ModelConfig& config, uint32_t capacity, KvType type) {
    const uint64_t heads = config.n_kv_heads, slots = heads * capacity;
    const uint64_t element_bytes = kv_type_bytes(type);
    return {
        slots * config.head_dim() * element_bytes,  // keys
        slots * config.head_dim() * element_bytes,  // values
        slots * 4,                                  // acc
        slots * 4,                                  // cnt
        slots * 4,                                  // order
        slots * 4,                                  // free
        heads * 2 * 4,                              // counts
        uint64_t{config.n_heads} * capacity * 4,    // probs
        uint64_t{capacity} * 4,                     // last
    };
}

}  // namespace

uint64_t KvCacheRing::bytes_for(const ModelConfig& config, uint32_t capacity, KvType type) {
    uint64_t layer = 0;
    for (uint64_t b : section_bytes(config, capacity, type)) layer += align(b);
    return layer * config.n_layers;
}

KvCacheRing::KvCacheRing(Context& ctx, const ModelConfig& config, uint32_t capacity, KvType type)
    : config_(config), capacity_(capacity), type_(type) {
    const std::array<uint64_t, 9> sections = section_bytes(config, capacity, type);
    uint64_t total = 0;
    std::vector<uint64_t> offsets;
    for (uint64_t b : sections) {
        offsets.push_back(total);
        total += align(b);
    }
    // All buffers first: the ranges below point at them, so the vector must not move them again.
    buffers_.reserve(config.n_layers);
    for (uint32_t l = 0; l < config.n_layers; l++) buffers_.emplace_back(ctx, total, Memory::device_local);
    for (const Buffer& b : buffers_) {
        auto section = [&](int i) { return BufferRange(b, offsets[i], sections[i]); };
        layers_.push_back({type, section(0), section(1), section(2), section(3), section(4), section(5), section(6), section(7), section(8)});
    }
    clear();
}

KvLayerSnapshot snapshot_of(const KvCache& cache, uint32_t layer, uint32_t n_query_heads, const std::vector<float>& last) {
    const uint32_t heads = cache.n_kv_heads(), cap = cache.capacity(), hd = cache.head_dim();
    KvLayerSnapshot s;
    s.keys.assign(size_t{heads} * cap * hd, 0.0f);
    s.values.assign(size_t{heads} * cap * hd, 0.0f);
    s.acc.assign(size_t{heads} * cap, 0.0f);
    s.cnt.assign(size_t{heads} * cap, 0);
    s.order.assign(size_t{heads} * cap, 0);
    s.free.assign(size_t{heads} * cap, 0);
    s.counts.assign(size_t{heads} * 2, 0);
    s.probs.assign(size_t{n_query_heads} * cap, 0.0f);
    s.last.assign(cap, 0.0f);
    std::copy(last.begin(), last.begin() + std::min<size_t>(last.size(), cap), s.last.begin());
    for (uint32_t h = 0; h < heads; h++) {
        for (uint32_t slot = 0; slot < cap; slot++) {
            std::copy(cache.key(layer, h, slot), cache.key(layer, h, slot) + hd, &s.keys[(size_t{h} * cap + slot) * hd]);
            std::copy(cache.value(layer, h, slot), cache.value(layer, h, slot) + hd, &s.values[(size_t{h} * cap + slot) * hd]);
            s.acc[h * cap + slot] = cache.acc(layer, h, slot);
            s.cnt[h * cap + slot] = cache.cnt(layer, h, slot);
        }
        const auto& order = cache.order(layer, h);
        const auto& free = cache.free_slots(layer, h);
        std::copy(order.begin(), order.end(), &s.order[h * cap]);
        std::copy(free.begin(), free.end(), &s.free[h * cap]);
        s.counts[2 * h] = static_cast<uint32_t>(order.size());
        s.counts[2 * h + 1] = static_cast<uint32_t>(free.size());
    }
    return s;
}

bool same_tables(const KvLayerSnapshot& a, const KvLayerSnapshot& b, uint32_t capacity) {
    if (a.counts != b.counts) return false;
    for (size_t h = 0; h < a.counts.size() / 2; h++) {
        const auto live = [&](const std::vector<uint32_t>& v, uint32_t n) {
            return std::vector<uint32_t>(v.begin() + h * capacity, v.begin() + h * capacity + n);
        };
        if (live(a.order, a.counts[2 * h]) != live(b.order, b.counts[2 * h])) return false;
        if (live(a.free, a.counts[2 * h + 1]) != live(b.free, b.counts[2 * h + 1])) return false;
    }
    return true;
}

uint64_t KvCacheRing::bytes() const {
    uint64_t total = 0;
    for (const Buffer& b : buffers_) total += b.size();
    return total;
}

void KvCacheRing::clear() {
    // As KvCache: no entries, every slot free, slot 0 on top of the stack.
    std::vector<uint32_t> free(static_cast<size_t>(config_.n_kv_heads) * capacity_);
    std::vector<uint32_t> counts(static_cast<size_t>(config_.n_kv_heads) * 2);
    for (uint32_t h = 0; h < config_.n_kv_heads; h++) {
        for (uint32_t j = 0; j < capacity_; j++) free[h * capacity_ + j] = capacity_ - 1 - j;
        counts[2 * h] = 0;
        counts[2 * h + 1] = capacity_;
    }
    std::vector<uint8_t> zeros(buffers_.empty() ? 0 : buffers_[0].size(), 0);
    for (uint32_t l = 0; l < layers_.size(); l++) {
        buffers_[l].upload(zeros.data(), zeros.size());
        buffers_[l].upload(free.data(), free.size() * 4, layers_[l].free.offset);
        buffers_[l].upload(counts.data(), counts.size() * 4, layers_[l].counts.offset);
    }
}

KvLayerSnapshot KvCacheRing::read_layer(uint32_t l) const {
    std::vector<uint8_t> bytes(buffers_[l].size());
    buffers_[l].download(bytes.data(), bytes.size());
    const KvLayer& k = layers_[l];
    return {unpack(bytes, k.keys, type_),   unpack(bytes, k.values, type_), slice<float>(bytes, k.acc),
            slice<float>(bytes, k.probs),   slice<float>(bytes, k.last),   slice<uint32_t>(bytes, k.cnt),
            slice<uint32_t>(bytes, k.order), slice<uint32_t>(bytes, k.free), slice<uint32_t>(bytes, k.counts)};
}

void KvCacheRing::write_layer(uint32_t l, const KvLayerSnapshot& s) {
    const KvLayer& k = layers_[l];
    auto put = [&](const auto& v, const BufferRange& r) { buffers_[l].upload(v.data(), r.size, r.offset); };
    put(pack(s.keys, type_), k.keys);
    put(pack(s.values, type_), k.values);
    put(s.acc, k.acc);
    put(s.probs, k.probs);
    put(s.last, k.last);
    put(s.cnt, k.cnt);
    put(s.order, k.order);
    put(s.free, k.free);
    put(s.counts, k.counts);
}

}  // namespace wkv
