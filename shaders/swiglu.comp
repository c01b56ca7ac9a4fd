#version 450
// The gated activation of the feed-forward block, for `rows` vectors laid out
// every `stride` floats, each [gate (n) | up (n)] as the stacked gate and up
// projections write them: gate = act(gate) * up, in place, where the down
// projection reads it. act is SiLU (SwiGLU), or GELU's tanh form (Gemma's GeGLU).

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) buffer GateUp { float gate_up[]; };

layout(push_constant) uniform Push {
    uint n;       // hidden size
    uint stride;  // floats between consecutive vectors
    uint rows;
    uint gelu;  // 0: SiLU; 1: GELU (tanh form)
} p;

void main() {
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n * p.rows) return;
    const uint gate = i / p.n * p.stride + i % p.n;
    const float g = gate_up[gate];
    float act;
    if (p.gelu == 0) {
        act = g / (1.0 + exp(-g));
    } else {  // 0.5 g (1 + tanh(u)) = g / (1 + exp(-2u)), which has no tanh to overflow
        const float u = 0.7978845608 * (g + 0.044715 * g * g * g);
        act = g / (1.0 + exp(-2.0 * u));
    }
    gate_up[gate] = act * gate_up[gate + p.n];
}
