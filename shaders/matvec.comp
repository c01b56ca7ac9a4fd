#version 450
// out[b][row] (+)= W[row] . x[b] for one matrix and a batch of input vectors
// (batch 1 for generation; several sequences for perplexity, so each weight is
// read once per step for all of them). Each subgroup computes whole rows: its
// invocations stride over a row's blocks and subgroupAdd sums them, so no
// workgroup barrier is needed and any row length works. The host sizes the
// dispatch with rows_per_group (workgroup size / the device's subgroup size);
// the loop below covers those rows whatever subgroup size the driver picks.
// Every sequence's sum runs in the same order whatever the batch, so batched
// results equal unbatched ones bit for bit. With accumulate = 1 the product is
// added to out: the residual add after the attention output and FFN down projections.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint MAX_BATCH = 16;

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
    uint batch;           // input vectors, at most MAX_BATCH
    uint x_stride;        // floats between consecutive input vectors
    uint out_stride;      // floats between consecutive output vectors
} p;

#include "weights.glsl"

void main() {
    const uint first = (gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x) * p.rows_per_group;
    for (uint r = gl_SubgroupID; r < p.rows_per_group; r += gl_NumSubgroups) {
        const uint row = first + r;
        if (row >= p.rows) break;  // uniform across the subgroup
        float sums[MAX_BATCH];
        for (uint s = 0; s < p.batch; s++) sums[s] = 0.0;
        for (uint b = gl_SubgroupInvocationID; b < p.cols / BLOCK_VALUES; b += gl_SubgroupSize) {
            for (uint s = 0; s < p.batch; s++) sums[s] += dot_block(row, b, p.cols, s * p.x_stride);
        }
        for (uint s = 0; s < p.batch; s++) {
            const float sum = subgroupAdd(sums[s]);
            if (subgroupElect()) {
                const uint o = s * p.out_stride + p.out_offset + row;
                out_[o] = p.accumulate != 0 ? out_[o] + sum : sum;
            }
        }
    }
}
