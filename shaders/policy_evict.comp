#version 450
// The paper's ablation "evict" (spec §2.9), one workgroup per KV head:
// WeightedKV's choice, the lowest average attention acc/cnt among
// [sinks, L - max(recent, 1)), dropped without a merge.
uint g_head;
#define SCORE(i) average_attention(g_head, slot_of(g_head, i))
#include "policy_common.glsl"

void main() {
    g_head = gl_WorkGroupID.x;
    const uint j = argmin_range(p.sinks, p.n_entries - max(p.recent, 1u));
    if (gl_LocalInvocationID.x == 0) remove_entry(g_head, j);
}
