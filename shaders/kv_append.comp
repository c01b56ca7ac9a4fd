#version 450
// Appends the new token's key and value to one layer's cache, one
// workgroup per KV head: pop a slot from the head's free list, put it last in
// the logical order, clear its acc/cnt, and copy the key (rotated at its
// absolute position in original-positions mode) and the value into the slot.
// Mirrors KvCache::append in model/kv_cache.cpp, so slot numbers match the CPU's.
#include "kv_storage.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer KNew { float k_new[]; };        // [n_kv_heads][head_dim]
layout(std430, binding = 1) readonly buffer VNew { float v_new[]; };        // [n_kv_heads][head_dim]
// The cache of this layer (runtime/kv_cache_ring.hpp binds its sections):
layout(std430, binding = 2) writeonly buffer KCache { KV_PAIR k_cache[]; };   // [kv_head][slot][head_dim / 2]
layout(std430, binding = 3) writeonly buffer VCache { KV_PAIR v_cache[]; };   // [kv_head][slot][head_dim / 2]
layout(std430, binding = 4) buffer Order { uint order_[]; };                // [kv_head][capacity]
layout(std430, binding = 5) readonly buffer Free { uint free_slots[]; };    // [kv_head][capacity], a stack
layout(std430, binding = 6) buffer Counts { uint counts[]; };               // [kv_head] x {entries, free}
layout(std430, binding = 7) writeonly buffer Acc { float acc[]; };          // [kv_head][slot]
layout(std430, binding = 8) writeonly buffer Cnt { uint cnt[]; };           // [kv_head][slot]
layout(std430, binding = 9) readonly buffer Rope { vec2 rope[]; };          // [position][head_dim / 2] (cos, sin)

layout(push_constant) uniform Push {
    uint capacity;
    uint head_dim;
    uint pos;         // absolute position of the token
    uint rotate_key;  // 1 in original-positions mode
} p;

shared uint slot;

void main() {
    const uint h = gl_WorkGroupID.x;
    const uint t = gl_LocalInvocationID.x;
    const uint head = h;
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
    const uint src = h * p.head_dim;
    const uint dst = (head * p.capacity + slot) * (p.head_dim / 2);
    for (uint i = t; i < p.head_dim / 2; i += WG) {
        vec2 k = vec2(k_new[src + 2 * i], k_new[src + 2 * i + 1]);
        if (p.rotate_key != 0) {
            const vec2 cs = rope[p.pos * (p.head_dim / 2) + i];
            k = vec2(k.x * cs.x - k.y * cs.y, k.x * cs.y + k.y * cs.x);
        }
        k_cache[dst + i] = KV_PACK(k);
        v_cache[dst + i] = KV_PACK(vec2(v_new[src + 2 * i], v_new[src + 2 * i + 1]));
    }
}
