#version 450
// WeightedKV (spec §2.3), one workgroup per KV head: j = the lowest average
// attention acc/cnt among [sinks, L - max(recent, 1)) (the newest entry has no
// right neighbour); its value joins its right neighbour's,
//   V[j+1] = (a_j V[j] + a_{j+1} V[j+1]) / (a_j + a_{j+1}),  equal weights if both are 0,
// and entry j leaves; the receiver keeps its key, acc and cnt, and notes
// the merge in its provenance.
uint g_head;
#define SCORE(i) average_attention(g_head, slot_of(g_head, i))
#include "policy_common.glsl"

void main() {
    if (!begin_entry()) return;
    g_head = gl_WorkGroupID.y;
    const uint j = argmin_range(cache.sinks, cache.n_entries - max(cache.recent, 1u));
    const uint from = slot_of(g_head, j), into = slot_of(g_head, j + 1);
    const float w1 = average_attention(g_head, from), w2 = average_attention(g_head, into);
    const float sum = w1 + w2;
    const uint half_dim = p.head_dim / 2;
    const uint a = cache.values + (head_slots(g_head) + from) * half_dim, b = cache.values + (head_slots(g_head) + into) * half_dim;
    for (uint i = gl_LocalInvocationID.x; i < half_dim; i += WG) {
        const vec2 va = KV_UNPACK(values[a + i]), vb = KV_UNPACK(values[b + i]);
        // precise: the same roundings as model/policy.cpp, no fused multiply-add.
        precise vec2 merged = sum > 0.0 ? (w1 * va + w2 * vb) / sum : (va + vb) * 0.5;
        values[b + i] = KV_PACK(merged);
    }
    barrier();  // every invocation has read the order table before it changes
    if (gl_LocalInvocationID.x == 0) {
        note_merge(g_head, from, into, sum > 0.0 ? w1 / sum : 0.5);
        remove_entry(g_head, j, true);
    }
}
