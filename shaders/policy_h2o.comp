#version 450
// H2O (spec §6.2): each KV head drops the entry with the lowest accumulated
// attention among [sinks, L - recent). One workgroup per KV head.
uint g_head;
#define SCORE(i) acc[g_head * p.capacity + slot_of(g_head, i)]
#include "policy_common.glsl"

void main() {
    g_head = gl_WorkGroupID.x;
    const uint j = argmin_range(p.sinks, p.n_entries - p.recent);
    if (gl_LocalInvocationID.x == 0) remove_entry(g_head, j);
}
