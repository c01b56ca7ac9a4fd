#version 450
// Greedy decoding on the device: the first index of the largest logit of
// each vector of a batch (workgroup b: the vector at b * stride), as argmax()
// in model/sampler.cpp, so a step hands the host a token id, not the logits.
// A NaN or +inf logit anywhere in a vector gives 0xffffffff (-1 as a token id),
// as argmax() does: a broken computation must not pass for a token.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Tokens { uint tokens[]; };  // [vector]

layout(push_constant) uniform Push {
    uint n;
    uint stride;  // floats between consecutive vectors
} p;

void main() {
    const uint base = gl_WorkGroupID.x * p.stride;
    // The smallest negated logit, the first index on ties (workgroup_argmin).
    float v = 0.0;
    uint idx = 0xffffffffu;
    bool broken = false;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) {
        // Bits, not isnan(): a driver may assume floats are finite.
        const uint bits = floatBitsToUint(logits[base + i]);
        broken = broken || ((bits & 0x7f800000u) == 0x7f800000u && bits != 0xff800000u);  // NaN or +inf
        const float negated = -logits[base + i];
        if (idx == 0xffffffffu || negated < v) {  // invocation t sees its indices in increasing order
            v = negated;
            idx = i;
        }
    }
    if (idx == 0xffffffffu) v = uintBitsToFloat(0x7f800000u);  // nothing to offer: +inf
    if (broken) {
        v = uintBitsToFloat(0xff800000u);  // -inf wins the minimum; only broken invocations offer it
        idx = 0xffffffffu;
    }
    const uint best = workgroup_argmin(v, idx);
    if (gl_LocalInvocationID.x == 0) tokens[gl_WorkGroupID.x] = best;
}
