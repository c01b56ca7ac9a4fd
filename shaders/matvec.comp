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
#extension GL_EXT_control_flow_attributes : require

layout(local_size_x_id = 0) in;
// Pipelines are built for MAX_BATCH 1 (generation) and 16: the loops over the
// batch unroll, so each dequantised weight is used for every vector while
// the per-vector sums stay in registers.
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

float sums[MAX_BATCH];

void main() {
    const uint first = (gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x) * p.rows_per_group;
    for (uint r = gl_SubgroupID; r < p.rows_per_group; r += gl_NumSubgroups) {
        const uint row = first + r;
        if (row >= p.rows) break;  // uniform across the subgroup
        [[unroll]] for (uint s = 0; s < MAX_BATCH; s++) sums[s] = 0.0;
        for (uint b = gl_SubgroupInvocationID; b < p.cols / BLOCK_VALUES; b += gl_SubgroupSize) {
            [[unroll]] for (uint j = 0; j < BLOCK_VALUES; j++) {
                const uint col = b * BLOCK_VALUES + j;
                const float w = dequant(row, col, p.cols);
                [[unroll]] for (uint s = 0; s < MAX_BATCH; s++) {
                    if (s < p.batch) sums[s] += w * x[s * p.x_stride + col];
                }
            }
        }
        [[unroll]] for (uint s = 0; s < MAX_BATCH; s++) {
            if (s < p.batch) {
                const float sum = subgroupAdd(sums[s]);
                if (subgroupElect()) {
                    const uint o = s * p.out_stride + p.out_offset + row;
                    out_[o] = p.accumulate != 0 ? out_[o] + sum : sum;
                }
            }
        }
    }
}
