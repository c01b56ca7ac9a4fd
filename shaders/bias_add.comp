#version 450
// x[r * row_stride + i] += bias[i] for i < n, every row r (y): Qwen2's Q, K and V
// biases, added to a token's stacked projections at once.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform Push {
    uint n;
    uint row_stride;
} p;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i < p.n) x[gl_WorkGroupID.y * p.row_stride + i] += bias[i];
}
