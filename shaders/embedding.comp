#version 450
// out = row `token` of the embedding table, dequantised.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 1) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint row;   // token id, relative to this chunk of the table
    uint cols;
} p;

#include "weights.glsl"

void main() {
    for (uint c = gl_LocalInvocationID.x; c < p.cols; c += WG) out_[c] = dequant(p.row, c, p.cols);
}
