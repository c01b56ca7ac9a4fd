#version 450
// The SwiGLU of the feed-forward block, for `rows` vectors laid out every
// `stride` floats, each [gate (n) | up (n)] as the stacked gate and up
// projections write them: gate = silu(gate) * up, in place, where the down
// projection reads it.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer GateUp { float gate_up[]; };

layout(push_constant) uniform Push {
    uint n;       // hidden size
    uint stride;  // floats between consecutive vectors
    uint rows;
} p;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n * p.rows) return;
    const uint gate = i / p.n * p.stride + i % p.n;
    const float g = gate_up[gate];
    gate_up[gate] = g / (1.0 + exp(-g)) * gate_up[gate + p.n];
}
