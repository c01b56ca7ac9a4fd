#version 450
// dst = src, 16 bytes per invocation per step of a grid-stride loop: the
// simplest kernel that moves memory at the device's pace, the roofline that
// `wkv bench --roofline` holds decode bandwidth against.

layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

layout(std430, binding = 0) readonly buffer Src { vec4 src[]; };
layout(std430, binding = 1) writeonly buffer Dst { vec4 dst[]; };

layout(push_constant) uniform Push {
    uint n;        // vec4s to copy
    uint threads;  // invocations in the whole dispatch
} p;

void main() {
    for (uint i = gl_GlobalInvocationID.x; i < p.n; i += p.threads) dst[i] = src[i];
}
