// What every policy shader shares (one per row of the policy table in
// model/policy.cpp, each mirroring that policy's CPU function): the layer's
// cache sections and entries (workgroup x: entry, y: KV head), the push
// constants, a first-index argmin over a range of logical indices, and the
// removal of an entry (KvCache::remove).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "kv_cache.glsl"
#include "reduce.glsl"

layout(push_constant) uniform Push {
    uint first;  // the dispatch's first entry (its n_entries: L = budget + 1)
    uint head_dim;
    uint layer;
} p;

// Where each KV head's tables start.
uint head_slots(uint head) { return head * cache.capacity; }

uint slot_of(uint head, uint index) { return order_[cache.order_ + head_slots(head) + index]; }

// acc / cnt of the entry in `slot` of `head`: WeightedKV's average attention.
float average_attention(uint head, uint slot) {
    return acc[cache.acc + head_slots(head) + slot] / float(cnt[cache.cnt + head_slots(head) + slot]);
}

// The smallest SCORE(i) over [begin, end), the first index on ties; every
// invocation gets the answer. SCORE(i) is a macro the shader defines.
uint argmin_range(uint begin, uint end) {
    float v = 3.402823e38;
    uint idx = 0xffffffffu;
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += WG) {
        const float s = SCORE(i);
        if (s < v) {  // invocation t sees its indices in increasing order
            v = s;
            idx = i;
        }
    }
    return workgroup_argmin(v, idx);
}

// Notes that the value in slot `from` of `head` was added into slot `into`'s
// with `weight` (KvCache::note_merge). Called by one invocation.
void note_merge(uint head, uint from, uint into, float weight) {
    const uint to = cache.provenance + PROVENANCE * (head_slots(head) + into);
    provenance[to + MERGED] += 1 + provenance[cache.provenance + PROVENANCE * (head_slots(head) + from) + MERGED];
    provenance[to + MERGE_WEIGHT] = floatBitsToUint(uintBitsToFloat(provenance[to + MERGE_WEIGHT]) + weight);
}

// Evicts logical index j of `head` (KvCache::remove): the order table closes
// the gap, the slot goes on top of the free stack; `merged`: its value went
// into others first. Called by one invocation.
void remove_entry(uint head, uint j, bool merged) {
    const uint order_base = cache.order_ + head_slots(head);
    const uint s = order_[order_base + j];
    for (uint i = j; i + 1 < cache.n_entries; i++) order_[order_base + i] = order_[order_base + i + 1];
    const uint head_counts = cache.counts + COUNTS * head;
    const uint free_count = counts[head_counts + FREE];
    free_slots[cache.free_slots + head_slots(head) + free_count] = s;
    counts[head_counts + FREE] = free_count + 1;
    counts[head_counts + ENTRIES] = cache.n_entries - 1;
    counts[head_counts + EVICTIONS] += 1;
    if (merged) counts[head_counts + MERGES] += 1;
}

// Loads this workgroup's entry; false for a workgroup past its KV heads (y
// runs to the widest entry's heads), which then does nothing.
bool begin_entry() {
    load_entry(p.first);
    return gl_WorkGroupID.y < cache.n_heads;
}
