#version 450
// out = row `token` of the embedding table, dequantised, times `scale` (1 but
// for models that scale their embeddings; times 1 is exact).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

#include "weights.glsl"
layout(std430, binding = 1) writeonly buffer Out { float out_[]; };

layout(push_constant) uniform Push {
    uint row;   // token id, relative to this chunk of the table
    uint cols;
    float scale;
} p;

void main() {
    for (uint u = gl_LocalInvocationID.x; u < (p.cols + UNIT - 1) / UNIT; u += WG) {
        vec4 w[UNIT / 4];
        read_weights(p.row, u, p.cols, p.cols % UNIT == 0, w);
        for (uint i = 0; i < UNIT && UNIT * u + i < p.cols; i++) out_[UNIT * u + i] = w[i / 4][i % 4] * p.scale;
    }
}
