#version 450
// CaM (spec §6.4), StreamingLLM's layout, one workgroup per KV head: the
// oldest non-sink entry j leaves, and with probability
//   min(1, acc_j / mean acc of the next n entries),   n = min(cam_n, entries after j)
// V[j] / n is first added to each of those n values. The draw comes from the
// same counter-based hash as model/policy.cpp, so CPU and GPU agree.
#define SCORE(i) 0.0
#include "policy_common.glsl"
#include "kv_store.glsl"

uint hash32(uint x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

float cam_uniform(uint seed, uint layer, uint head, uint step) {
    const uint h = hash32(hash32(hash32(hash32(step) ^ head) ^ layer) ^ seed);
    return float(h >> 8) * (1.0 / 16777216.0);
}

void main() {
    if (!begin_entry()) return;
    const uint head = gl_WorkGroupID.y;
    const uint base = head_slots(head);
    const uint j = cache.sinks;
    const uint n = min(cache.cam_n, cache.n_entries - 1 - j);
    bool merged = false;
    if (n > 0) {
        float sum = 0.0;  // in index order, as the CPU sums
        for (uint k = 1; k <= n; k++) sum += acc[cache.acc + base + slot_of(head, j + k)];
        const float mean = sum / float(n);
        const float acc_j = acc[cache.acc + base + slot_of(head, j)];
        const float probability = mean > 0.0 ? min(1.0, acc_j / mean) : (acc_j > 0.0 ? 1.0 : 0.0);
        if (cam_uniform(cache.seed, p.layer, cache.first_head + head, cache.step) < probability) {
            merged = true;
            const uint from = value_row(head, slot_of(head, j), p.head_dim);
            for (uint k = 1; k <= n; k++) {
                const uint into = value_row(head, slot_of(head, j + k), p.head_dim);
                for (uint i = gl_LocalInvocationID.x; i < p.head_dim / 2; i += WG) {
                    precise vec2 added = value_pair(into, p.head_dim, i) + value_pair(from, p.head_dim, i) / float(n);
                    kv_staged[2 * i] = added.x;
                    kv_staged[2 * i + 1] = added.y;
                }
                barrier();
                store_value_row(into, p.head_dim);  // rounded once per merge, in the receiver's type
                barrier();  // before kv_staged holds the next receiver
            }
        }
    }
    barrier();  // every invocation has read the order table before it changes
    if (gl_LocalInvocationID.x == 0) {
        if (merged) {
            for (uint k = 1; k <= n; k++) note_merge(head, slot_of(head, j), slot_of(head, j + k), 1.0 / float(n));
        }
        remove_entry(head, j, merged);
    }
}
