#version 450
// Attention for one layer, one workgroup per query head of an entry (x:
// entry, y: query head of its group; runtime/kernels.hpp): scores q.k over
// the cached entries in logical order, softmax in fp32, output sum p.v. The
// probabilities stay in `probs` (per query head, by logical index) for the
// score bookkeeping of the cache policies.
//
// An entry is one token when decoding. In a prompt chunk that the cache takes
// without evicting, it is up to QUERIES consecutive tokens of one sequence,
// all appended before this runs: query j sees the first n_entries + j entries
// (causal), so each key and value is read once for all of them. Query j's
// arithmetic is the one-token case's, step for step, so a chunk gives the
// same floats as its tokens one at a time.
//
// Positions (weightedkv-spec.md section 2.7): in cache-index mode keys are
// stored before RoPE and rotated here at their logical index i, query j at
// q_pos + j; in original-positions mode keys were rotated when appended and
// q_pos is the first token's absolute position. Either way q_pos comes from the host.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two
layout(constant_id = 1) const uint MAX_HEAD_DIM = 256;
layout(constant_id = 2) const uint QUERIES = 1;  // most tokens an entry may hold

#include "kv_cache.glsl"
#include "reduce.glsl"
#include "rope.glsl"

layout(std430, binding = KV_BINDINGS + 0) readonly buffer Q { float q[]; };       // [token][n_heads][head_dim] from q_first
layout(std430, binding = KV_BINDINGS + 1) readonly buffer Rope { vec2 rope[]; };  // [position][head_dim / 2]
layout(std430, binding = KV_BINDINGS + 2) writeonly buffer Out { float out_[]; }; // [token][n_heads][head_dim] from out_first

layout(push_constant) uniform Push {
    uint first;       // the dispatch's first entry
    uint group_size;  // query heads per KV head
    uint head_dim;
    float scale;      // 1 / sqrt(head_dim)
    uint q_stride;    // floats from one token's q to the next's
    uint out_stride;  // floats from one token's output to the next's
} p;

shared float q_rot[QUERIES * MAX_HEAD_DIM];

void main() {
    load_entry(p.first);
    const uint h = gl_WorkGroupID.y;
    if (h >= cache.n_heads * p.group_size) return;  // an entry with fewer heads than the widest
    const uint t = gl_LocalInvocationID.x;
    const uint half_dim = p.head_dim / 2;
    const uint head = h / p.group_size;
    const uint order_base = cache.order_ + head * cache.capacity;
    const uint probs_base = cache.probs + h * cache.capacity;
    const uint qh = cache.first_head * p.group_size + h;  // in the layer's q and out
    const uint queries = min(cache.tokens, QUERIES);
    const uint n_all = cache.n_entries + queries - 1;  // what the last query sees

    for (uint j = 0; j < queries; j++) {
        const uint q_at = cache.q_first + j * p.q_stride + qh * p.head_dim;
        for (uint i = t; i < half_dim; i += WG) {
            const vec2 r = rotate(vec2(q[q_at + 2 * i], q[q_at + 2 * i + 1]), rope[(cache.q_pos + j) * half_dim + i]);
            q_rot[j * MAX_HEAD_DIM + 2 * i] = r.x;
            q_rot[j * MAX_HEAD_DIM + 2 * i + 1] = r.y;
        }
    }
    barrier();

    float local_max[QUERIES];
    for (uint j = 0; j < QUERIES; j++) local_max[j] = -3.402823e38;
    for (uint e = t; e < n_all; e += WG) {
        RowReader key = row_reader(key_row(head, order_[order_base + e], p.head_dim));
        float score[QUERIES];
        for (uint j = 0; j < QUERIES; j++) score[j] = 0.0;
        for (uint i = 0; i < half_dim; i++) {
            vec2 k = next_key_pair(key, p.head_dim, i);
            if (cache.positions == 0) k = rotate(k, rope[e * half_dim + i]);
            for (uint j = 0; j < QUERIES; j++) {
                score[j] += q_rot[j * MAX_HEAD_DIM + 2 * i] * k.x + q_rot[j * MAX_HEAD_DIM + 2 * i + 1] * k.y;
            }
        }
        for (uint j = 0; j < QUERIES; j++) {
            if (j >= queries || e >= cache.n_entries + j) continue;  // beyond query j's entries
            const float s = score[j] * p.scale;
            probs[probs_base + j * cache.probs_stride + e] = s;
            local_max[j] = max(local_max[j], s);
        }
    }

    for (uint j = 0; j < queries; j++) {
        const uint n = cache.n_entries + j, at = probs_base + j * cache.probs_stride;
        const float max_score = workgroup_max(local_max[j]);
        float local_sum = 0.0;
        for (uint e = t; e < n; e += WG) {
            const float w = exp(probs[at + e] - max_score);
            probs[at + e] = w;
            local_sum += w;
        }
        const float inv_sum = 1.0 / workgroup_sum(local_sum);
        for (uint e = t; e < n; e += WG) probs[at + e] *= inv_sum;
    }
    memoryBarrierBuffer();
    barrier();

    // Two pairs of dimensions an invocation (pairs 2u and 2u + 1): one q8_0 or q4_0
    // code word and one scale word hold both, and an f16 word holds a pair.
    for (uint u = t; 2 * u < half_dim; u += WG) {
        const bool second = 2 * u + 1 < half_dim;
        vec2 sum[QUERIES], sum2[QUERIES];
        for (uint j = 0; j < QUERIES; j++) {
            sum[j] = vec2(0.0);
            sum2[j] = vec2(0.0);
        }
        for (uint e = 0; e < n_all; e++) {
            RowReader value = row_reader(value_row(head, order_[order_base + e], p.head_dim));
            const vec2 v = next_value_pair(value, p.head_dim, 2 * u);
            const vec2 v2 = second ? next_value_pair(value, p.head_dim, 2 * u + 1) : vec2(0.0);
            for (uint j = 0; j < QUERIES; j++) {
                if (j < queries && e < cache.n_entries + j) {
                    const float w = probs[probs_base + j * cache.probs_stride + e];
                    sum[j] += w * v;
                    sum2[j] += w * v2;
                }
            }
        }
        for (uint j = 0; j < queries; j++) {
            const uint at = cache.out_first + j * p.out_stride + qh * p.head_dim + 4 * u;
            out_[at] = sum[j].x;
            out_[at + 1] = sum[j].y;
            if (second) {
                out_[at + 2] = sum2[j].x;
                out_[at + 3] = sum2[j].y;
            }
        }
    }
}
