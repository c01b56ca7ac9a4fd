#version 450
// gate = silu(gate) * up, element-wise: the SwiGLU of the feed-forward block.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer Gate { float gate[]; };
layout(std430, binding = 1) readonly buffer Up { float up[]; };

layout(push_constant) uniform Push { uint n; } p;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n) return;
    const float g = gate[i];
    gate[i] = g / (1.0 + exp(-g)) * up[i];
}
