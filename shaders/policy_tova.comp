#version 450
// TOVA (spec §6.3): one choice for the whole layer, the entry with the lowest
// last-step attention averaged over all query heads, among [sinks, L - recent);
// every KV head drops that logical index. One workgroup per entry; a layer
// split into groups of heads has an entry per group, each making the same
// choice from the layer's one `last`.
#define SCORE(i) last[cache.last + i]
#include "policy_common.glsl"

void main() {
    if (!begin_entry()) return;
    const uint j = argmin_range(cache.sinks, cache.n_entries - cache.recent);
    if (gl_LocalInvocationID.x == 0) {
        for (uint head = 0; head < cache.n_heads; head++) remove_entry(head, j, false);
    }
}
