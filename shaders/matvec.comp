#version 450
// out[row] (+)= W[row] . x for one matrix. Each subgroup computes whole rows:
// its invocations stride over a row's blocks and subgroupAdd sums them, so no
// workgroup barrier is needed and any row length works. The host sizes the
// dispatch with rows_per_group (workgroup size / the device's subgroup size);
// the loop below covers those rows whatever subgroup size the driver picks.
// With accumulate = 1 the product is added to out: that is the residual add
// after the attention output and FFN down projections.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;

layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint rows;            // rows in this chunk of the matrix
    uint cols;
    uint out_offset;      // first output element of this chunk
    uint accumulate;
    uint groups_x;        // workgroups per dispatch row (the row count may exceed the x limit)
    uint rows_per_group;
} p;

#include "weights.glsl"

void main() {
    const uint first = (gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x) * p.rows_per_group;
    for (uint r = gl_SubgroupID; r < p.rows_per_group; r += gl_NumSubgroups) {
        const uint row = first + r;
        if (row >= p.rows) break;  // uniform across the subgroup
        float sum = 0.0;
        for (uint b = gl_SubgroupInvocationID; b < p.cols / BLOCK_VALUES; b += gl_SubgroupSize) sum += dot_block(row, b, p.cols, 0);
        sum = subgroupAdd(sum);
        if (subgroupElect()) {
            const uint o = p.out_offset + row;
            out_[o] = p.accumulate != 0 ? out_[o] + sum : sum;
        }
    }
}
