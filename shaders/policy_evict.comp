#version 450
// The paper's ablation "evict" (spec §2.9), one workgroup per KV head:
// WeightedKV's choice, the lowest average attention acc/cnt among
// [sinks, L - max(recent, 1)), dropped without a merge.
uint g_head;
#define SCORE(i) average_attention(g_head, slot_of(g_head, i))
#include "policy_common.glsl"

void main() {
    if (!begin_entry()) return;
    g_head = gl_WorkGroupID.y;
    const uint j = argmin_range(cache.sinks, cache.n_entries - max(cache.recent, 1u));
    if (gl_LocalInvocationID.x == 0) remove_entry(g_head, j, false);
}
