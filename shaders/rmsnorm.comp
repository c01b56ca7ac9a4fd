#version 450
// out = x / sqrt(mean(x^2) + eps) * weight, one workgroup per vector: vector b
// of row r at first + r * row_stride + b * stride (x: b, y: r). A row is a
// token's activations; its vectors are the whole row (the layer norms) or
// each of its heads (Qwen3's Q and K head norms, in place). With `residual`,
// out += residual * that instead: Gemma's norm of a block's output, added to
// the residual stream in the same pass.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "reduce.glsl"

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float weight[]; };
layout(std430, binding = 2) buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint n;
    float eps;
    uint stride;      // floats between consecutive vectors of a row
    uint row_stride;  // floats between consecutive rows
    uint first;       // the first vector's offset
    float residual;   // 0: out = the normed x; else out += residual * the normed x
} p;

void main() {
    const uint base = p.first + gl_WorkGroupID.y * p.row_stride + gl_WorkGroupID.x * p.stride;
    float sum = 0.0;
    for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) sum += x[base + i] * x[base + i];
    const float scale = inversesqrt(workgroup_sum(sum) / float(p.n) + p.eps);
    if (p.residual == 0.0) {  // (uniform: the plain norm reads nothing of out)
        for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG) out_[base + i] = weight[i] * (x[base + i] * scale);
    } else {
        for (uint i = gl_LocalInvocationID.x; i < p.n; i += WG)
            out_[base + i] += p.residual * (weight[i] * (x[base + i] * scale));
    }
}
