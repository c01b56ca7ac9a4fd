#version 450
// out[row] (+)= W[row] . x for one matrix, one workgroup per row. Threads
// stride over the row's blocks, then a shared-memory tree sums their partial
// dot products, so any row length works and no subgroup size is assumed.
// With accumulate = 1 the product is added to out: that is the residual add
// after the attention output and FFN down projections.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;  // power of two

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint rows;        // rows in this chunk of the matrix
    uint cols;
    uint out_offset;  // first output element of this chunk
    uint accumulate;
    uint groups_x;    // workgroups per dispatch row (rows may exceed the x limit)
} p;

#include "weights.glsl"

shared float partial[WG];

void main() {
    const uint row = gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x;
    if (row >= p.rows) return;  // whole workgroup leaves together
    const uint t = gl_LocalInvocationID.x;
    float sum = 0.0;
    for (uint b = t; b < p.cols / BLOCK_VALUES; b += WG) sum += dot_block(row, b, p.cols, 0);
    partial[t] = sum;
    barrier();
    for (uint stride = WG / 2; stride > 0; stride /= 2) {
        if (t < stride) partial[t] += partial[t + stride];
        barrier();
    }
    if (t == 0) {
        const uint o = p.out_offset + row;
        out_[o] = p.accumulate != 0 ? out_[o] + partial[0] : partial[0];
    }
}
