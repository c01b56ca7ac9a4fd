#version 450
// Decode attention for one layer, one workgroup per query head of an entry
// (x: entry, y: query head of its group; runtime/kernels.hpp): scores q.k
// over the L cached entries in logical order, softmax in fp32, output sum p.v.
// The probabilities stay in `probs` (per query head, by logical index) for the
// score bookkeeping of the cache policies.
//
// Positions (weightedkv-spec.md section 2.7): in cache-index mode keys are
// stored before RoPE and rotated here at their logical index i, the query at
// L - 1; in original-positions mode keys were rotated when appended and the
// query sits at its absolute position. Either way q_pos comes from the host.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two
layout(constant_id = 1) const uint MAX_HEAD_DIM = 256;

#include "kv_cache.glsl"
#include "reduce.glsl"
#include "rope.glsl"

layout(std430, binding = KV_BINDINGS + 0) readonly buffer Q { float q[]; };       // [n_heads][head_dim] from q_first
layout(std430, binding = KV_BINDINGS + 1) readonly buffer Rope { vec2 rope[]; };  // [position][head_dim / 2]
layout(std430, binding = KV_BINDINGS + 2) writeonly buffer Out { float out_[]; }; // [n_heads][head_dim] from out_first

layout(push_constant) uniform Push {
    uint first;       // the dispatch's first entry
    uint group_size;  // query heads per KV head
    uint head_dim;
    float scale;      // 1 / sqrt(head_dim)
} p;

shared float q_rot[MAX_HEAD_DIM];

void main() {
    load_entry(p.first);
    const uint h = gl_WorkGroupID.y;
    if (h >= cache.n_heads * p.group_size) return;  // an entry with fewer heads than the widest
    const uint t = gl_LocalInvocationID.x;
    const uint half_dim = p.head_dim / 2;
    const uint head = h / p.group_size;
    const uint order_base = cache.order_ + head * cache.capacity;
    const uint kv_base = head * cache.capacity;
    const uint probs_base = cache.probs + h * cache.capacity;
    const uint qh = cache.first_head * p.group_size + h;  // in the layer's q and out

    for (uint i = t; i < half_dim; i += WG) {
        const vec2 r = rotate(vec2(q[cache.q_first + qh * p.head_dim + 2 * i], q[cache.q_first + qh * p.head_dim + 2 * i + 1]),
                              rope[cache.q_pos * half_dim + i]);
        q_rot[2 * i] = r.x;
        q_rot[2 * i + 1] = r.y;
    }
    barrier();

    float local_max = -3.402823e38;
    for (uint e = t; e < cache.n_entries; e += WG) {
        const uint k_base = cache.keys + (kv_base + order_[order_base + e]) * half_dim;
        float score = 0.0;
        for (uint i = 0; i < half_dim; i++) {
            vec2 k = KV_UNPACK(keys[k_base + i]);
            if (cache.positions == 0) k = rotate(k, rope[e * half_dim + i]);
            score += q_rot[2 * i] * k.x + q_rot[2 * i + 1] * k.y;
        }
        score *= p.scale;
        probs[probs_base + e] = score;
        local_max = max(local_max, score);
    }
    const float max_score = workgroup_max(local_max);

    float local_sum = 0.0;
    for (uint e = t; e < cache.n_entries; e += WG) {
        const float w = exp(probs[probs_base + e] - max_score);
        probs[probs_base + e] = w;
        local_sum += w;
    }
    const float inv_sum = 1.0 / workgroup_sum(local_sum);
    for (uint e = t; e < cache.n_entries; e += WG) probs[probs_base + e] *= inv_sum;
    memoryBarrierBuffer();
    barrier();

    for (uint d = t; d < p.head_dim; d += WG) {
        float sum = 0.0;
        for (uint e = 0; e < cache.n_entries; e++) {
            const uint v_base = cache.values + (kv_base + order_[order_base + e]) * half_dim;
            sum += probs[probs_base + e] * KV_UNPACK(values[v_base + d / 2])[d & 1];
        }
        out_[cache.out_first + qh * p.head_dim + d] = sum;
    }
}
