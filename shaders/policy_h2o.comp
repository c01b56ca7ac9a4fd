#version 450
// H2O (spec §6.2): each KV head drops the entry with the lowest accumulated
// attention among [sinks, L - recent). One workgroup per KV head.
uint g_head;
#define SCORE(i) acc[cache.acc + head_slots(g_head) + slot_of(g_head, i)]
#include "policy_common.glsl"

void main() {
    if (!begin_entry()) return;
    g_head = gl_WorkGroupID.y;
    const uint j = argmin_range(cache.sinks, cache.n_entries - cache.recent);
    if (gl_LocalInvocationID.x == 0) remove_entry(g_head, j, false);
}
