// What every policy shader shares: the layer's cache sections, the push
// constants, a first-index argmin over a range of logical indices, and the
// removal of an entry. Mirrors model/policy.cpp and KvCache::remove.
#include "kv_storage.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two

layout(std430, binding = 0) buffer Values { KV_PAIR values[]; };  // [kv_head][slot][head_dim / 2]
layout(std430, binding = 1) readonly buffer Acc { float acc[]; };  // [kv_head][slot]
layout(std430, binding = 2) readonly buffer Cnt { uint cnt[]; };   // [kv_head][slot]
layout(std430, binding = 3) buffer Order { uint order_[]; };       // [kv_head][capacity]
layout(std430, binding = 4) buffer Free { uint free_slots[]; };    // [kv_head][capacity]
layout(std430, binding = 5) buffer Counts { uint counts[]; };      // [kv_head] x {entries, free}
layout(std430, binding = 6) readonly buffer Last { float last[]; };  // [logical index] (TOVA)

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
    uint n_kv_heads;
} p;

uint slot_of(uint head, uint index) { return order_[head * p.capacity + index]; }

shared float best_value[WG];
shared uint best_index[WG];

// The smallest score(i) over [begin, end), the first index on ties; every
// invocation gets the answer. SCORE(i) is a macro the shader defines.
uint argmin_range(uint begin, uint end) {
    const uint t = gl_LocalInvocationID.x;
    float v = 3.402823e38;
    uint idx = 0xffffffffu;
    for (uint i = begin + t; i < end; i += WG) {
        const float s = SCORE(i);
        if (s < v) {  // invocation t sees its indices in increasing order
            v = s;
            idx = i;
        }
    }
    best_value[t] = v;
    best_index[t] = idx;
    barrier();
    for (uint stride = WG / 2; stride > 0; stride /= 2) {
        if (t < stride) {
            const float ov = best_value[t + stride];
            const uint oi = best_index[t + stride];
            if (ov < best_value[t] || (ov == best_value[t] && oi < best_index[t])) {
                best_value[t] = ov;
                best_index[t] = oi;
            }
        }
        barrier();
    }
    const uint result = best_index[0];
    barrier();
    return result;
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
