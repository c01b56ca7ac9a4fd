#version 450
// out[b][row] (+)= W[row] . x[b] for one matrix and a batch of input vectors
// (batch 1 for generation; several sequences for perplexity, so each weight is
// read once per step for all of them). Rows are computed whole, in one of two
// ways the host picks (ROW_PER_INVOCATION):
//  - on a GPU, a subgroup per row: its invocations stride over the row's units
//    of values (weights.glsl), neighbours reading neighbouring words, and
//    subgroupAdd sums them;
//  - on a CPU driver, an invocation per row: every invocation reads the same
//    input values at once, which the driver loads once for all its SIMD lanes
//    instead of gathering them lane by lane (4x fewer gathers; the gathers are
//    what such a driver spends its time on).
// Either way no workgroup barrier is needed and any row length works. The host
// sizes the dispatch with rows_per_group; the loop below covers those rows
// whatever subgroup size the driver picks. Every sequence's sum runs in the
// same order whatever the batch, so batched results equal unbatched ones bit
// for bit. With accumulate = 1 the product is added to out: the residual add
// after the attention output and FFN down projections. The product is
// multiplied by `scale` first (1 but for Granite's residual and logit scales;
// times 1 is exact).
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
// Rows each subgroup computes together: every input value it loads serves
// ROWS rows, as every weight serves BATCH vectors. The host picks it per batch
// size (Kernels::matvec_rows); a row's sums run in the same order whatever ROWS.
layout(constant_id = 2) const uint ROWS = 1;
layout(constant_id = 3) const bool ROW_PER_INVOCATION = false;

#include "weights.glsl"
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer X4 { vec4 x4[]; };
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
    float scale;          // multiplies each product
} p;

// Input values [UNIT u, UNIT u + UNIT) of vector s; with whole = false,
// zeros past cols. Whole units are vec4 loads: on a CPU driver every load is a
// gather across SIMD lanes, so four values per load cut the loads 4x.
void read_input(uint s, uint u, bool whole, out vec4 v[UNIT / 4]) {
    const uint first = UNIT * u, base = s * p.x_stride;
    if (whole) {
        [[unroll]] for (uint k = 0; k < UNIT / 4; k++) v[k] = x4[(base + first) / 4 + k];
        return;
    }
    const uint last = base + p.cols - 1;  // reads stay inside the vector
    [[unroll]] for (uint i = 0; i < UNIT; i++) v[i / 4][i % 4] = first + i < p.cols ? x[min(base + first + i, last)] : 0.0;
}

uint rows[ROWS];
float sums[ROWS][BATCH];

// Adds unit u of the rows times every input vector to the sums.
void accumulate(uint u, bool whole) {
    vec4 w[ROWS][UNIT / 4];
    [[unroll]] for (uint i = 0; i < ROWS; i++) read_weights(rows[i], u, p.cols, whole, w[i]);
    [[unroll]] for (uint s = 0; s < BATCH; s++) {
        vec4 v[UNIT / 4];
        read_input(s, u, whole, v);
        [[unroll]] for (uint i = 0; i < ROWS; i++) {
            [[unroll]] for (uint k = 0; k < UNIT / 4; k++) sums[i][s] += dot(w[i][k], v[k]);
        }
    }
}

void main() {
    const uint first = (gl_WorkGroupID.y * p.groups_x + gl_WorkGroupID.x) * p.rows_per_group;
    const uint units = (p.cols + UNIT - 1) / UNIT;
    const bool whole = p.cols % UNIT == 0 && p.x_stride % 4 == 0;
    // Who computes which rows: `slot` takes ROWS rows at a time, its `lanes` invocations share them.
    const uint slot = ROW_PER_INVOCATION ? gl_LocalInvocationID.x : gl_SubgroupID;
    const uint slots = ROW_PER_INVOCATION ? gl_WorkGroupSize.x : gl_NumSubgroups;
    const uint lane = ROW_PER_INVOCATION ? 0 : gl_SubgroupInvocationID;
    const uint lanes = ROW_PER_INVOCATION ? 1 : gl_SubgroupSize;
    for (uint r0 = slot * ROWS; r0 < p.rows_per_group; r0 += slots * ROWS) {
        // Past the last row: uniform across a slot's lanes on a GPU. With a row per
        // invocation, lanes instead compute a repeat of the last row and do not
        // write it, so the loop's exit stays uniform (a CPU driver then loads
        // the input values once for all lanes).
        if (!ROW_PER_INVOCATION && first + r0 >= p.rows) break;
        // Rows past the end repeat the last one (computed, never written), so no lane branches.
        [[unroll]] for (uint i = 0; i < ROWS; i++) rows[i] = min(first + r0 + i, p.rows - 1);
        [[unroll]] for (uint i = 0; i < ROWS; i++) {
            [[unroll]] for (uint s = 0; s < BATCH; s++) sums[i][s] = 0.0;
        }
        // One loop per case, so neither carries the other's branch.
        if (whole) {
            for (uint u = lane; u < units; u += lanes) accumulate(u, true);
        } else {
            for (uint u = lane; u < units; u += lanes) accumulate(u, false);
        }
        [[unroll]] for (uint i = 0; i < ROWS; i++) {
            if (first + r0 + i >= p.rows) break;
            [[unroll]] for (uint s = 0; s < BATCH; s++) {
                const float sum = (ROW_PER_INVOCATION ? sums[i][s] : subgroupAdd(sums[i][s])) * p.scale;
                if (ROW_PER_INVOCATION || subgroupElect()) {
                    const uint o = s * p.out_stride + p.out_offset + rows[i];
                    out_[o] = p.accumulate != 0 ? out_[o] + sum : sum;
                }
            }
        }
    }
}
