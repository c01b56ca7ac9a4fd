#version 450
// Score bookkeeping after one layer's attention (spec §2.3 steps 2-3), one
// workgroup per KV head: each of its L entries gains the probability mass the
// head's group of query heads gave it (acc) and one more step (cnt). For a
// policy that reads it (TOVA), one extra workgroup writes the probabilities
// averaged over every query head of the layer, by logical index. When the
// layer's heads are split into groups (runtime/kv_cache_ring.hpp), each
// group's dispatch carries the running sum in `last` on from the previous
// group's and the last group divides: the same additions in the same order as
// one group, so the mean does not depend on the split.
#include "kv_cache.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(push_constant) uniform Push {
    uint capacity;
    uint n_entries;
    uint n_kv_heads;
    uint group_size;
    uint mean_first;    // the group's first query head in the layer
    uint layer_heads;   // the layer's query heads
} p;

void main() {
    const uint h = gl_WorkGroupID.x;
    if (h == p.n_kv_heads) {
        const uint n_heads = p.n_kv_heads * p.group_size;
        const bool ends = p.mean_first + n_heads == p.layer_heads;
        for (uint i = gl_LocalInvocationID.x; i < p.n_entries; i += WG) {
            float sum = p.mean_first == 0 ? 0.0 : last[i];
            for (uint q = 0; q < n_heads; q++) sum += probs[q * p.capacity + i];
            last[i] = ends ? sum / float(p.layer_heads) : sum;
        }
        return;
    }
    for (uint i = gl_LocalInvocationID.x; i < p.n_entries; i += WG) {
        float mass = 0.0;
        for (uint g = 0; g < p.group_size; g++) mass += probs[(h * p.group_size + g) * p.capacity + i];
        const uint s = h * p.capacity + order_[h * p.capacity + i];
        acc[s] += mass;
        cnt[s] += 1;
    }
}
