#version 450
// Score bookkeeping after one layer's attention (spec §2.3 steps 2-3), one
// workgroup per KV head of an entry (x: entry, y: head): each of its L entries
// gains the probability mass the head's group of query heads gave it (acc)
// and one more step (cnt); an entry of a prompt chunk does so for each of its
// tokens in order (token j saw n_entries + j entries), adding the same floats
// in the same order as its tokens one at a time would. For a policy that reads it (TOVA), workgroup
// y = n_heads writes the probabilities averaged over every query head of the
// layer, by logical index (the last token's). When a layer's heads are split into groups
// (runtime/kv_cache_ring.hpp), the groups run in order, one dispatch each, and
// each carries the running sum in `last` on from the previous group's; the last
// group divides: the same additions in the same order as one group, so the
// mean does not depend on the split.
#include "kv_cache.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(push_constant) uniform Push {
    uint first;        // the dispatch's first entry
    uint group_size;
    uint layer_heads;  // the layer's query heads
} p;

void main() {
    load_entry(p.first);
    const uint h = gl_WorkGroupID.y;
    const uint cap = cache.capacity;
    if (h == cache.n_heads && cache.head_mean == 1) {
        const uint n_heads = cache.n_heads * p.group_size;
        const uint mean_first = cache.first_head * p.group_size;  // the group's first query head in the layer
        const bool ends = mean_first + n_heads == p.layer_heads;
        const uint at = cache.probs + (cache.tokens - 1) * cache.probs_stride;
        for (uint i = gl_LocalInvocationID.x; i < cache.n_entries + cache.tokens - 1; i += WG) {
            float sum = mean_first == 0 ? 0.0 : last[cache.last + i];
            for (uint q = 0; q < n_heads; q++) sum += probs[at + q * cap + i];
            last[cache.last + i] = ends ? sum / float(p.layer_heads) : sum;
        }
        return;
    }
    if (h >= cache.n_heads) return;  // an entry with fewer heads than the widest
    for (uint i = gl_LocalInvocationID.x; i < cache.n_entries + cache.tokens - 1; i += WG) {
        const uint s = h * cap + order_[cache.order_ + h * cap + i];
        float sum = acc[cache.acc + s];
        uint steps = cnt[cache.cnt + s];
        for (uint j = i < cache.n_entries ? 0 : i + 1 - cache.n_entries; j < cache.tokens; j++) {  // the tokens that saw entry i
            float mass = 0.0;
            for (uint g = 0; g < p.group_size; g++) mass += probs[cache.probs + j * cache.probs_stride + (h * p.group_size + g) * cap + i];
            sum += mass;
            steps++;
        }
        acc[cache.acc + s] = sum;
        cnt[cache.cnt + s] = steps;
    }
}
