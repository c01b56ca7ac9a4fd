#version 450
// x[r * row_stride + i] = cap * tanh(x / cap) for i < n, every row r (y):
// Gemma's final logit soft-capping, in place before anything reads the logits.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer X { float x[]; };

layout(push_constant) uniform Push {
    uint n;
    uint row_stride;
    float cap;
} p;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n) return;
    const uint at = gl_WorkGroupID.y * p.row_stride + i;
    // tanh(y) = 1 - 2 / (exp(2y) + 1): exp may overflow to infinity, never to NaN.
    x[at] = p.cap * (1.0 - 2.0 / (exp(2.0 * x[at] / p.cap) + 1.0));
}
