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
#include "kv_store.glsl"

void main() {
    if (!begin_entry()) return;
    g_head = gl_WorkGroupID.y;
    const uint j = argmin_range(cache.sinks, cache.n_entries - max(cache.recent, 1u));
    const uint from = slot_of(g_head, j), into = slot_of(g_head, j + 1);
    const float w1 = average_attention(g_head, from), w2 = average_attention(g_head, into);
    const float sum = w1 + w2;
    const uint a = value_row(g_head, from, p.head_dim), b = value_row(g_head, into, p.head_dim);
    for (uint i = gl_LocalInvocationID.x; i < p.head_dim / 2; i += WG) {
        const vec2 va = value_pair(a, p.head_dim, i), vb = value_pair(b, p.head_dim, i);
        // precise: the same roundings as model/policy.cpp, no fused multiply-add.
        precise vec2 merged = sum > 0.0 ? (w1 * va + w2 * vb) / sum : (va + vb) * 0.5;
        kv_staged[2 * i] = merged.x;
        kv_staged[2 * i + 1] = merged.y;
    }
    barrier();  // the whole merged row is staged, and the order table read before it changes
    store_value_row(b, p.head_dim);  // rounded once, in the receiver's type
    if (gl_LocalInvocationID.x == 0) {
        note_merge(g_head, from, into, sum > 0.0 ? w1 / sum : 0.5);
        remove_entry(g_head, j, true);
    }
}
