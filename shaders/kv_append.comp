#version 450
// Appends the new token's key and value to one layer's cache (a group of its
// KV heads, runtime/kv_cache_ring.hpp), one workgroup per KV head: pop a slot from the head's free list, put it last in
// the logical order, clear its acc/cnt, and copy the key (rotated at its
// absolute position in original-positions mode) and the value into the slot.
// Mirrors KvCache::append in model/kv_cache.cpp, so slot numbers match the CPU's.
#include "kv_cache.glsl"
#include "rope.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = KV_SECTIONS + 0) readonly buffer KNew { float k_new[]; };  // [n_kv_heads][head_dim] from k_first
layout(std430, binding = KV_SECTIONS + 1) readonly buffer VNew { float v_new[]; };  // [n_kv_heads][head_dim] from v_first
layout(std430, binding = KV_SECTIONS + 2) readonly buffer Rope { vec2 rope[]; };    // [position][head_dim / 2] (cos, sin)

layout(push_constant) uniform Push {
    uint capacity;
    uint head_dim;
    uint pos;        // absolute position of the token
    uint positions;  // PositionMode: 0 cache-index (stored before RoPE), 1 original (stored rotated at pos)
    uint head_base;  // the group's first KV head: where its heads are in k_new and v_new
    uint k_first;    // where the keys start in k_new (after the queries, when q, k and v share a buffer)
    uint v_first;
} p;

shared uint slot;

void main() {
    const uint head = gl_WorkGroupID.x;
    const uint t = gl_LocalInvocationID.x;
    if (t == 0) {
        const uint free_count = counts[2 * head + 1] - 1;
        const uint n_entries = counts[2 * head];
        const uint s = free_slots[head * p.capacity + free_count];
        counts[2 * head + 1] = free_count;
        order_[head * p.capacity + n_entries] = s;
        counts[2 * head] = n_entries + 1;
        acc[head * p.capacity + s] = 0.0;
        cnt[head * p.capacity + s] = 0;
        slot = s;
    }
    barrier();
    const uint src = (p.head_base + head) * p.head_dim;  // from k_first, v_first
    const uint dst = (head * p.capacity + slot) * (p.head_dim / 2);
    for (uint i = t; i < p.head_dim / 2; i += WG) {
        vec2 k = vec2(k_new[p.k_first + src + 2 * i], k_new[p.k_first + src + 2 * i + 1]);
        if (p.positions == 1) k = rotate(k, rope[p.pos * (p.head_dim / 2) + i]);
        keys[dst + i] = KV_PACK(k);
        values[dst + i] = KV_PACK(vec2(v_new[p.v_first + src + 2 * i], v_new[p.v_first + src + 2 * i + 1]));
    }
}
