#version 450
// TOVA (spec §6.3): one choice for the whole layer, the entry with the lowest
// last-step attention averaged over all query heads, among [sinks, L - recent);
// every KV head drops that logical index. One workgroup; a layer split into
// groups of heads runs it once per group, each making the same choice from the
// layer's one `last`.
#define SCORE(i) last[i]
#include "policy_common.glsl"

void main() {
    const uint j = argmin_range(p.sinks, p.n_entries - p.recent);
    if (gl_LocalInvocationID.x == 0) {
        for (uint head = 0; head < p.n_kv_heads; head++) remove_entry(head, j);
    }
}
