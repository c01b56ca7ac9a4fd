#include "kv_cache.hpp"

#include <stdexcept>
#include <string>

#include "error.hpp"
#include "tensor.hpp"

namespace wkv {

std::string kv_types_name(KvTypes types) {
    if (types.k == types.v) return kv_type_name(types.k);
    return std::string(kv_type_name(types.k)) + "/" + kv_type_name(types.v);
}

KvCache::KvCache(const ModelConfig& config, uint32_t capacity, KvTypes storage)
    : KvCache(config, std::vector<uint32_t>(config.n_layers, capacity), storage) {}

KvCache::KvCache(const ModelConfig& config, std::vector<uint32_t> capacities, KvTypes storage)
    : n_kv_heads_(config.n_kv_heads),
      head_dim_(config.head_dim()),
      capacities_(std::move(capacities)),
      storage_(storage) {
    if (capacities_.size() != config.n_layers) throw std::logic_error("KvCache needs a capacity per layer");
    uint64_t slots = 0;
    for (uint32_t capacity : capacities_) {
        if (capacity == 0) throw Error("KV cache capacity must be at least 1");
        layer_first_.push_back(slots);
        slots += uint64_t{n_kv_heads_} * capacity;
    }
    keys_.assign(slots * head_dim_, 0.0f);
    values_.assign(slots * head_dim_, 0.0f);
    acc_.assign(slots, 0.0f);
    cnt_.assign(slots, 0);
    provenance_.assign(slots, {});
    tables_.resize(static_cast<size_t>(config.n_layers) * n_kv_heads_);
    for (size_t i = 0; i < tables_.size(); i++) {
        tables_[i].order.reserve(capacities_[i / n_kv_heads_]);
        tables_[i].free.reserve(capacities_[i / n_kv_heads_]);
    }
    clear();
}

void KvCache::clear() {
    for (size_t i = 0; i < tables_.size(); i++) {
        HeadTables& t = tables_[i];
        t.order.clear();
        t.free.clear();
        t.counts = {};
        for (uint32_t s = capacities_[i / n_kv_heads_]; s-- > 0;) t.free.push_back(s);  // slot 0 is taken first
    }
}

uint32_t KvCache::append(uint32_t layer, uint32_t kv_head, uint32_t position) {
    HeadTables& t = head(layer, kv_head);
    if (t.free.empty()) {
        throw Error("KV cache is full (" + std::to_string(capacity(layer)) + " entries per head in layer " +
                    std::to_string(layer) + ")");
    }
    const uint32_t s = t.free.back();
    t.free.pop_back();
    t.order.push_back(s);
    acc(layer, kv_head, s) = 0.0f;
    cnt(layer, kv_head, s) = 0;
    provenance_[offset(layer, kv_head, s)] = {position, 0, 0.0f};
    return s;
}

void KvCache::remove(uint32_t layer, uint32_t kv_head, uint32_t index, bool merged) {
    HeadTables& t = head(layer, kv_head);
    const uint32_t s = t.order.at(index);
    t.order.erase(t.order.begin() + index);
    t.free.push_back(s);
    t.counts.evictions++;
    if (merged) t.counts.merges++;
}

void KvCache::note_merge(uint32_t layer, uint32_t kv_head, uint32_t from, uint32_t into, float weight) {
    Provenance& to = provenance_[offset(layer, kv_head, into)];
    to.merged += 1 + provenance(layer, kv_head, from).merged;
    to.merge_weight += weight;
}

uint64_t KvCache::bytes() const {
    uint64_t total = (keys_.size() + values_.size() + acc_.size()) * sizeof(float) + cnt_.size() * sizeof(uint32_t) +
                     provenance_.size() * sizeof(Provenance);
    for (const HeadTables& t : tables_) total += (t.order.capacity() + t.free.capacity()) * sizeof(uint32_t);
    return total;
}

uint64_t KvCache::bytes_for(const ModelConfig& config, const std::vector<uint32_t>& capacities) {
    uint64_t slots = 0;
    for (uint32_t capacity : capacities) slots += uint64_t{config.n_kv_heads} * capacity;
    // A key and a value (kept as floats, whatever the storage rounds them to), acc,
    // cnt, provenance, and the slot in the order and free tables.
    return slots * (2 * uint64_t{config.head_dim()} * sizeof(float) + sizeof(float) + sizeof(uint32_t) +
                    sizeof(Provenance) + 2 * sizeof(uint32_t));
}

}  // namespace wkv
