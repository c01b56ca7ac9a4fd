#version 450
// StreamingLLM (spec §6.1): every KV head drops its oldest entry that is not a
// sink. One workgroup per KV head.
#define SCORE(i) 0.0
#include "policy_common.glsl"

void main() {
    if (!begin_entry()) return;
    if (gl_LocalInvocationID.x == 0) remove_entry(gl_WorkGroupID.y, cache.sinks, false);
}
