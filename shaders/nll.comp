#version 450
// Negative log-likelihood of one target token under the logits:
// log(sum exp(logits)) - logits[target], so only one float per step leaves
// the device during perplexity evaluation.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Result { float result[]; };

layout(push_constant) uniform Push {
    uint n;
    uint target_id;
    uint result_index;
} p;

void main() {
    const uint t = gl_LocalInvocationID.x;
    float m = -3.402823e38;
    for (uint i = t; i < p.n; i += WG) m = max(m, logits[i]);
    const float max_logit = workgroup_max(m);
    float s = 0.0;
    for (uint i = t; i < p.n; i += WG) s += exp(logits[i] - max_logit);
    const float sum = workgroup_sum(s);
    if (t == 0) result[p.result_index] = log(sum) + max_logit - logits[p.target_id];
}
