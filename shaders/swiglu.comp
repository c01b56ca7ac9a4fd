#version 450
// The gated activation of the feed-forward block, for `rows` vectors laid out
// every `stride` floats, each [gate (n) | up (n)] as the stacked gate and up
// projections write them: gate = act(gate) * up, in place, where the down
// projection reads it. act is SiLU (SwiGLU), or GELU's tanh form (Gemma's
// GeGLU), exact or as llama.cpp's CPU backend tabulates it (Activation in
// model/config.hpp).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer GateUp { float gate_up[]; };

layout(push_constant) uniform Push {
    uint n;           // hidden size
    uint stride;      // floats between consecutive vectors
    uint rows;
    uint activation;  // 0: SiLU; 1: GELU (tanh form); 2: GELU of f16(x), rounded to f16
} p;

// 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)), which has no tanh to overflow.
float gelu_tanh(float x) {
    const float u = 0.7978845608 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

float through_f16(float x) { return unpackHalf2x16(packHalf2x16(vec2(x, 0.0))).x; }

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n * p.rows) return;
    const uint gate = i / p.n * p.stride + i % p.n;
    const float g = gate_up[gate];
    float act;
    if (p.activation == 0) {
        act = g / (1.0 + exp(-g));
    } else if (p.activation == 1) {
        act = gelu_tanh(g);
    } else {  // the table covers (-10, 10); beyond it GELU is 0 or x
        act = g <= -10.0 ? 0.0 : g >= 10.0 ? g : through_f16(gelu_tanh(through_f16(g)));
    }
    gate_up[gate] = act * gate_up[gate + p.n];
}
