#version 450
// Appends each token's key and value to its sequence's cache in one layer,
// one workgroup per KV head of an entry (x: entry, y: head; an entry of a
// prompt chunk appends its tokens in order, each a row further on): pop a
// slot from the head's free list, put it last in the logical order, clear its
// acc/cnt, mark its provenance as the token's own, and copy the key (rotated
// at its absolute position in original-positions mode) and the value into the
// slot, each stored as its type rounds it (kv_store.glsl). Mirrors
// KvCache::append in model/kv_cache.cpp, so slot numbers match the CPU's.
#include "kv_cache.glsl"
#include "kv_store.glsl"
#include "rope.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = KV_BINDINGS + 0) readonly buffer KNew { float k_new[]; };  // [n_kv_heads][head_dim] from k_first
layout(std430, binding = KV_BINDINGS + 1) readonly buffer VNew { float v_new[]; };  // [n_kv_heads][head_dim] from v_first
layout(std430, binding = KV_BINDINGS + 2) readonly buffer Rope { vec2 rope[]; };    // [position][head_dim / 2] (cos, sin)

layout(push_constant) uniform Push {
    uint first;  // the dispatch's first entry
    uint head_dim;
    uint row_stride;  // floats from one token's k (v) to the next's
} p;

shared uint slot;

void main() {
    load_entry(p.first);
    const uint head = gl_WorkGroupID.y;
    if (head >= cache.n_heads) return;  // an entry with fewer heads than the widest
    const uint t = gl_LocalInvocationID.x;
    const uint base = head * cache.capacity;
    for (uint j = 0; j < cache.tokens; j++) {
        if (t == 0) {
            const uint head_counts = cache.counts + COUNTS * head;
            const uint free_count = counts[head_counts + FREE] - 1;
            const uint n_entries = counts[head_counts + ENTRIES];
            const uint s = free_slots[cache.free_slots + base + free_count];
            counts[head_counts + FREE] = free_count;
            order_[cache.order_ + base + n_entries] = s;
            counts[head_counts + ENTRIES] = n_entries + 1;
            acc[cache.acc + base + s] = 0.0;
            cnt[cache.cnt + base + s] = 0;
            const uint origin = cache.provenance + PROVENANCE * (base + s);
            provenance[origin + POSITION] = cache.pos + j;
            provenance[origin + MERGED] = 0;
            provenance[origin + MERGE_WEIGHT] = floatBitsToUint(0.0);
            slot = s;
        }
        barrier();
        const uint src = j * p.row_stride + (cache.first_head + head) * p.head_dim;  // from k_first, v_first
        for (uint i = t; i < p.head_dim / 2; i += WG) {
            vec2 k = vec2(k_new[cache.k_first + src + 2 * i], k_new[cache.k_first + src + 2 * i + 1]);
            if (cache.positions == 1) k = rotate(k, rope[(cache.pos + j) * (p.head_dim / 2) + i]);
            kv_staged[2 * i] = k.x;
            kv_staged[2 * i + 1] = k.y;
        }
        barrier();
        store_key_row(key_row(head, slot, p.head_dim), p.head_dim);
        barrier();
        for (uint d = t; d < p.head_dim; d += WG) kv_staged[d] = v_new[cache.v_first + src + d];
        barrier();
        store_value_row(value_row(head, slot, p.head_dim), p.head_dim);
        barrier();  // `slot` and kv_staged are the next token's
    }
}
