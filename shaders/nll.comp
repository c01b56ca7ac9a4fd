#version 450
// Negative log-likelihood of one target token under the logits:
// log(sum exp(logits)) - logits[target], so only one float per step leaves
// the device during perplexity evaluation.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };
layout(std430, binding = 1) writeonly buffer Result { float result[]; };

layout(push_constant) uniform Push {
    uint n;
    uint target_id;
    uint result_index;
} p;

shared float reduce_buf[WG];

void main() {
    const uint t = gl_LocalInvocationID.x;
    float m = -3.402823e38;
    for (uint i = t; i < p.n; i += WG) m = max(m, logits[i]);
    reduce_buf[t] = m;
    barrier();
    for (uint stride = WG / 2; stride > 0; stride /= 2) {
        if (t < stride) reduce_buf[t] = max(reduce_buf[t], reduce_buf[t + stride]);
        barrier();
    }
    const float max_logit = reduce_buf[0];
    barrier();
    float s = 0.0;
    for (uint i = t; i < p.n; i += WG) s += exp(logits[i] - max_logit);
    reduce_buf[t] = s;
    barrier();
    for (uint stride = WG / 2; stride > 0; stride /= 2) {
        if (t < stride) reduce_buf[t] += reduce_buf[t + stride];
        barrier();
    }
    if (t == 0) result[p.result_index] = log(reduce_buf[0]) + max_logit - logits[p.target_id];
}
