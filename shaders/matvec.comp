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
// The number of input vectors. Pipelines are specialised per batch size (the
// host creates each when first used): the loops over the batch unroll, so each
// dequantised weight is used for every vector while the per-vector sums stay
// in registers, and no vector is skipped by a condition (a CPU driver runs
// both sides of a condition across its SIMD lanes, and the skipped vectors
// would cost as much as the real ones).
layout(constant_id = 1) const uint BATCH = 1;

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
    uint x_stride;        // floats between consecutive input vectors
    uint out_stride;      // floats between consecutive output vectors
} p;

#include "weights.glsl"
#if defined(WEIGHT_F32)
// The same buffers seen as vec4: when rows and input vectors are whole vec4s,
// each invocation takes four columns per load. On a CPU driver every load is
// a gather across SIMD lanes, so four values per load cut the loads 4x (the
// batched matvec ran 1.3x faster on lavapipe, bench/ppl_batch_ratio.sh).
layout(std430, binding = 0) readonly buffer Weights4 { vec4 weights4[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
#endif

// Rows each subgroup computes together: every input value it loads serves
// ROWS rows, as every weight serves BATCH vectors. The host picks it per batch
// size (Kernels::matvec_rows); a row's sums run in the same order whatever ROWS.
layout(constant_id = 2) const uint ROWS = 1;

float sums[ROWS][BATCH];

void main() {
    const uint first = (gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x) * p.rows_per_group;
    for (uint r0 = gl_SubgroupID * ROWS; r0 < p.rows_per_group; r0 += gl_NumSubgroups * ROWS) {
        if (first + r0 >= p.rows) break;  // uniform across the subgroup
        // Rows past the end repeat the last one (computed, never written), so no lane branches.
        uint rows[ROWS];
        [[unroll]] for (uint i = 0; i < ROWS; i++) rows[i] = min(first + r0 + i, p.rows - 1);
        [[unroll]] for (uint i = 0; i < ROWS; i++) {
            [[unroll]] for (uint s = 0; s < BATCH; s++) sums[i][s] = 0.0;
        }
#if defined(WEIGHT_F32)
        if (p.cols % 4 == 0 && p.x_stride % 4 == 0) {
            for (uint g = gl_SubgroupInvocationID; g < p.cols / 4; g += gl_SubgroupSize) {
                vec4 w[ROWS];
                [[unroll]] for (uint i = 0; i < ROWS; i++) w[i] = weights4[rows[i] * (p.cols / 4) + g];
                [[unroll]] for (uint s = 0; s < BATCH; s++) {
                    const vec4 xs = x4[s * (p.x_stride / 4) + g];
                    [[unroll]] for (uint i = 0; i < ROWS; i++) sums[i][s] += dot(w[i], xs);
                }
            }
        } else
#endif
        for (uint b = gl_SubgroupInvocationID; b < p.cols / BLOCK_VALUES; b += gl_SubgroupSize) {
            [[unroll]] for (uint j = 0; j < BLOCK_VALUES; j++) {
                const uint col = b * BLOCK_VALUES + j;
                float w[ROWS];
                [[unroll]] for (uint i = 0; i < ROWS; i++) w[i] = dequant(rows[i], col, p.cols);
                [[unroll]] for (uint s = 0; s < BATCH; s++) {
                    const float xs = x[s * p.x_stride + col];
                    [[unroll]] for (uint i = 0; i < ROWS; i++) sums[i][s] += w[i] * xs;
                }
            }
        }
        [[unroll]] for (uint i = 0; i < ROWS; i++) {
            if (first + r0 + i >= p.rows) break;  // uniform across the subgroup
            [[unroll]] for (uint s = 0; s < BATCH; s++) {
                const float sum = subgroupAdd(sums[i][s]);
                if (subgroupElect()) {
                    const uint o = s * p.out_stride + p.out_offset + rows[i];
                    out_[o] = p.accumulate != 0 ? out_[o] + sum : sum;
                }
            }
        }
    }
}
