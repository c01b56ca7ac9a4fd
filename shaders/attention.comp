#version 450
// Decode attention for one layer, one workgroup per query head: scores q.k
// over the L cached entries in logical order, softmax in fp32, output sum p.v.
// The probabilities stay in `probs` (per query head, by logical index) for the
// score bookkeeping of the cache policies.
//
// Positions (weightedkv-spec.md section 2.7): in cache-index mode keys are
// stored before RoPE and rotated here at their logical index i, the query at
// L - 1; in original-positions mode keys were rotated when appended and the
// query sits at its absolute position. Either way q_pos comes from the host.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "kv_storage.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two
layout(constant_id = 1) const uint MAX_HEAD_DIM = 256;

layout(std430, binding = 0) readonly buffer Q { float q[]; };              // [n_heads][head_dim]
layout(std430, binding = 1) readonly buffer KCache { KV_PAIR k_cache[]; };   // this layer: [kv_head][slot][head_dim / 2]
layout(std430, binding = 2) readonly buffer VCache { KV_PAIR v_cache[]; };
layout(std430, binding = 3) readonly buffer Order { uint order_[]; };      // this layer: [kv_head][capacity]
layout(std430, binding = 4) readonly buffer Rope { vec2 rope[]; };         // [position][head_dim / 2]
layout(std430, binding = 5) coherent buffer Probs { float probs[]; };      // [n_heads][capacity]
layout(std430, binding = 6) writeonly buffer Out { float out_[]; };        // [n_heads][head_dim]

layout(push_constant) uniform Push {
    uint group_size;   // query heads per KV head
    uint capacity;
    uint head_dim;
    uint n_entries;    // L, entries in the cache including the new one
    uint q_pos;
    uint rotate_keys;  // 1 in cache-index mode
    float scale;       // 1 / sqrt(head_dim)
} p;

shared float q_rot[MAX_HEAD_DIM];
shared float reduce_buf[WG];  // one per subgroup (at most WG of them)

// Reduction over the workgroup; op 0 = max, 1 = sum. Each subgroup reduces
// its own values first, so the workgroup waits at two barriers instead of a
// tree's seven (a CPU driver runs each barrier as a switch between every
// subgroup of the workgroup).
float workgroup_reduce(float value, uint op) {
    const float mine = op == 0 ? subgroupMax(value) : subgroupAdd(value);
    if (subgroupElect()) reduce_buf[gl_SubgroupID] = mine;
    barrier();
    float result = reduce_buf[0];
    for (uint i = 1; i < gl_NumSubgroups; i++) result = op == 0 ? max(result, reduce_buf[i]) : result + reduce_buf[i];
    barrier();
    return result;
}

void main() {
    const uint h = gl_WorkGroupID.x;
    const uint t = gl_LocalInvocationID.x;
    const uint half_dim = p.head_dim / 2;
    const uint head = h / p.group_size;
    const uint probs_base = h * p.capacity;

    for (uint i = t; i < half_dim; i += WG) {
        const vec2 cs = rope[p.q_pos * half_dim + i];
        const float a = q[h * p.head_dim + 2 * i], b = q[h * p.head_dim + 2 * i + 1];
        q_rot[2 * i] = a * cs.x - b * cs.y;
        q_rot[2 * i + 1] = a * cs.y + b * cs.x;
    }
    barrier();

    float local_max = -3.402823e38;
    for (uint e = t; e < p.n_entries; e += WG) {
        const uint k_base = (head * p.capacity + order_[head * p.capacity + e]) * half_dim;
        float score = 0.0;
        for (uint i = 0; i < half_dim; i++) {
            vec2 k = KV_UNPACK(k_cache[k_base + i]);
            if (p.rotate_keys != 0) {
                const vec2 cs = rope[e * half_dim + i];
                k = vec2(k.x * cs.x - k.y * cs.y, k.x * cs.y + k.y * cs.x);
            }
            score += q_rot[2 * i] * k.x + q_rot[2 * i + 1] * k.y;
        }
        score *= p.scale;
        probs[probs_base + e] = score;
        local_max = max(local_max, score);
    }
    const float max_score = workgroup_reduce(local_max, 0);

    float local_sum = 0.0;
    for (uint e = t; e < p.n_entries; e += WG) {
        const float w = exp(probs[probs_base + e] - max_score);
        probs[probs_base + e] = w;
        local_sum += w;
    }
    const float inv_sum = 1.0 / workgroup_reduce(local_sum, 1);
    for (uint e = t; e < p.n_entries; e += WG) probs[probs_base + e] *= inv_sum;
    memoryBarrierBuffer();
    barrier();

    for (uint d = t; d < p.head_dim; d += WG) {
        float sum = 0.0;
        for (uint e = 0; e < p.n_entries; e++) {
            const uint v_base = (head * p.capacity + order_[head * p.capacity + e]) * half_dim;
            sum += probs[probs_base + e] * KV_UNPACK(v_cache[v_base + d / 2])[d & 1];
        }
        out_[h * p.head_dim + d] = sum;
    }
}
