// What every policy shader shares (one per row of the policy table in
// model/policy.cpp, each mirroring that policy's CPU function): the layer's
// cache sections, the push constants, a first-index argmin over a range of
// logical indices, and the removal of an entry (KvCache::remove).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "kv_cache.glsl"
#include "reduce.glsl"

layout(push_constant) uniform Push {
    uint capacity;
    uint head_dim;
    uint n_entries;  // L = budget + 1
    uint sinks;
    uint recent;
    uint cam_n;
    uint seed;
    uint step;
    uint layer;
    uint n_kv_heads;  // in this group of the layer's KV heads (runtime/kv_cache_ring.hpp)
    uint head_base;   // the group's first KV head in the layer
} p;

uint slot_of(uint head, uint index) { return order_[head * p.capacity + index]; }

// acc / cnt of the entry in `slot` of `head`: WeightedKV's average attention.
float average_attention(uint head, uint slot) { return acc[head * p.capacity + slot] / float(cnt[head * p.capacity + slot]); }

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

// Drops logical index j of `head`: the order table closes the gap, the slot
// goes on top of the free stack. Called by one invocation.
void remove_entry(uint head, uint j) {
    const uint base = head * p.capacity;
    const uint s = order_[base + j];
    for (uint i = j; i + 1 < p.n_entries; i++) order_[base + i] = order_[base + i + 1];
    const uint free_count = counts[2 * head + 1];
    free_slots[base + free_count] = s;
    counts[2 * head + 1] = free_count + 1;
    counts[2 * head] = p.n_entries - 1;
}
