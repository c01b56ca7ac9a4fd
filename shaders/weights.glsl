// Reading one weight matrix [rows][cols] in its device layout
// (runtime/gpu_tensor.cpp): 32-bit words holding the file's blocks, each
// padded to whole words at its type's pad_at, or a plain array for f32 and
// f16. The build defines exactly one WEIGHT_<TYPE>, a row of
// model/weight_types.inc; each section below mirrors that type's CPU
// dequantiser in model/dequantize.cpp, operation for operation.
//
// Shaders read a row in units of UNIT values: read_weights(row, u, cols, w)
// puts values [UNIT u, UNIT u + UNIT) into w[0 .. UNIT / 4). A block type
// defines BLOCK_VALUES, BLOCK_WORDS and dequant16(b, g, w), which decodes
// group g (sixteen values, the smallest sub-block of any type) of the block
// starting at word b and reads the group's scale once; its unit is a group.
// A plain type defines plain4(e) (four values from element e, a multiple of 4)
// and plain_value(e); its unit is four values, so that neighbouring
// invocations read neighbouring words (a CPU driver turns such loads into
// wide ones: 1.4x on lavapipe). With whole = false, which callers pass when
// the row length is not a multiple of UNIT, reads past the end give zeros;
// callers decide it once outside their loops, as a CPU driver runs both sides
// of a branch it cannot prove uniform. The weights are binding 0.
layout(std430, binding = 0) readonly buffer Weights { uint weights[]; };

// The four bytes of a word, lowest first.
uvec4 bytes4(uint word) { return uvec4(word & 0xffu, (word >> 8) & 0xffu, (word >> 16) & 0xffu, word >> 24); }
// The low (half 0) or high (half 1) nibbles of a word's four bytes.
uvec4 nibbles(uint word, uint half_) { return bytes4(word >> (4 * half_)) & 15u; }
// Bits 0..3 of `bits`, each masked with `mask`: the high bits of four values.
uvec4 bits4(uint bits, uint mask) { return uvec4(bits, bits >> 1, bits >> 2, bits >> 3) & mask; }
// Byte i of the bytes that start at word b.
uint byte_at(uint b, uint i) { return (weights[b + i / 4] >> (8 * (i % 4))) & 0xffu; }
// The 6-bit scale and min of sub-block j (0..7) of q4_K and q5_K, packed in the 12 bytes at word b.
uvec2 scale_min_k4(uint b, uint j) {
    if (j < 4) return uvec2(byte_at(b, j) & 63u, byte_at(b, j + 4) & 63u);
    return uvec2((byte_at(b, j + 4) & 15u) | ((byte_at(b, j - 4) >> 6) << 4), (byte_at(b, j + 4) >> 4) | ((byte_at(b, j) >> 6) << 4));
}
// The 16 non-linear levels of iq4_nl and iq4_xs.
const float IQ4_LEVELS[16] = float[16](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
vec4 iq4_levels(uvec4 i) { return vec4(IQ4_LEVELS[i.x], IQ4_LEVELS[i.y], IQ4_LEVELS[i.z], IQ4_LEVELS[i.w]); }

#if defined(WEIGHT_F32)
#define PLAIN_ROWS 1
layout(std430, binding = 0) readonly buffer Weights4 { vec4 weights4[]; };
float plain_value(uint e) { return uintBitsToFloat(weights[e]); }
vec4 plain4(uint e) { return weights4[e / 4]; }

#elif defined(WEIGHT_F16)
#define PLAIN_ROWS 1
float plain_value(uint e) { return unpackHalf2x16(weights[e >> 1])[e & 1u]; }
vec4 plain4(uint e) { return vec4(unpackHalf2x16(weights[e / 2]), unpackHalf2x16(weights[e / 2 + 1])); }

#elif defined(WEIGHT_BF16)
#define PLAIN_ROWS 1
// bf16 is the upper half of an f32.
float bf16(uint bits) { return uintBitsToFloat(bits << 16); }
float plain_value(uint e) { return bf16(weights[e >> 1] >> (16 * (e & 1u))); }
vec4 plain4(uint e) {
    const uint a = weights[e / 2], b = weights[e / 2 + 1];
    return vec4(bf16(a & 0xffffu), bf16(a >> 16), bf16(b & 0xffffu), bf16(b >> 16));
}

#elif defined(WEIGHT_Q4_0)
// 32 values: f16 scale d, padding, 16 bytes; value j in the low nibble of byte
// j, value j + 16 in the high nibble; (q - 8) * d. Group g is nibble half g.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 5;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b]).x;
    for (uint k = 0; k < 4; k++) w[k] = (vec4(nibbles(weights[b + 1 + k], g)) - 8.0) * d;
}

#elif defined(WEIGHT_Q8_0)
// 32 values: f16 scale d, padding, 32 int8 q; q * d.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 9;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b]).x;
    for (uint k = 0; k < 4; k++) {
        const int q = int(weights[b + 1 + 4 * g + k]);
        w[k] = vec4(bitfieldExtract(q, 0, 8), bitfieldExtract(q, 8, 8), bitfieldExtract(q, 16, 8), bitfieldExtract(q, 24, 8)) * d;
    }
}

#elif defined(WEIGHT_Q4_1)
// 32 values: f16 d and m, 16 bytes of nibbles as q4_0; q * d + m.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 5;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 dm = unpackHalf2x16(weights[b]);
    for (uint k = 0; k < 4; k++) {
        precise vec4 v = vec4(nibbles(weights[b + 1 + k], g)) * dm.x + dm.y;
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q5_0)
// 32 values: f16 d, padding, 32 high bits, 16 bytes of nibbles; (q - 16) * d.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 6;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b]).x;
    const uint high = weights[b + 1] >> (16 * g);
    for (uint k = 0; k < 4; k++) {
        const uvec4 q = nibbles(weights[b + 2 + k], g) | (bits4(high >> (4 * k), 1u) << 4);
        w[k] = (vec4(q) - 16.0) * d;
    }
}

#elif defined(WEIGHT_Q5_1)
// 32 values: f16 d and m, 32 high bits, 16 bytes of nibbles; q * d + m.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 6;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 dm = unpackHalf2x16(weights[b]);
    const uint high = weights[b + 1] >> (16 * g);
    for (uint k = 0; k < 4; k++) {
        const uvec4 q = nibbles(weights[b + 2 + k], g) | (bits4(high >> (4 * k), 1u) << 4);
        precise vec4 v = vec4(q) * dm.x + dm.y;
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q2_K)
// 256 values, 16 sub-blocks of 16 (one group each): scales[16] (4-bit scale,
// 4-bit min), qs[64] of 2-bit q, d and dmin. Sub-block s takes bytes
// 32 (s / 8) + 16 (s % 2) .. + 15 of qs at shift 2 ((s % 8) / 2).
// Value = d * scale * q - dmin * min.
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 21;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 dm = unpackHalf2x16(weights[b + 20]);
    const uint sc = byte_at(b, g);
    precise float dl = dm.x * float(sc & 15u);
    precise float ml = dm.y * float(sc >> 4);
    const uint q_word = b + 4 + 8 * (g / 8) + 4 * (g % 2), shift = 2 * ((g % 8) / 2);
    for (uint k = 0; k < 4; k++) {
        precise vec4 v = dl * vec4(bytes4(weights[q_word + k] >> shift) & 3u) - ml;
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q3_K)
// 256 values, 16 sub-blocks of 16: hmask[32] (third bit; 0 subtracts 4),
// qs[64] of 2-bit q laid out as in q2_K, 12 bytes of 6-bit scales (offset by
// 32: low nibbles in bytes 0..7, high bit pairs in bytes 8..11), d, padding.
// Value = d * (scale - 32) * q.
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 28;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b + 27]).x;
    const uint low = (byte_at(b + 24, g % 8) >> (4 * (g / 8))) & 15u;
    const uint high = (byte_at(b + 26, g % 4) >> (2 * (g / 4))) & 3u;
    precise float dl = d * float(int(low | (high << 4)) - 32);
    const uint step = (g % 8) / 2;
    const uint q_word = b + 8 + 8 * (g / 8) + 4 * (g % 2), h_word = b + 4 * (g % 2), bit = 4 * (g / 8) + step;
    for (uint k = 0; k < 4; k++) {
        const ivec4 q = ivec4(bytes4(weights[q_word + k] >> (2 * step)) & 3u) - ivec4(4u - 4u * (bytes4(weights[h_word + k] >> bit) & 1u));
        precise vec4 v = dl * vec4(q);
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q4_K)
// 256 values: d and dmin, 12 bytes of 6-bit scales and mins, qs[128]: eight
// sub-blocks of 32, sub-block s in the low (even s) or high (odd s) nibbles of
// bytes 32 (s / 2) .. + 31. Group g is half of sub-block g / 2.
// Value = d * scale * q - dmin * min.
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 36;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 dm = unpackHalf2x16(weights[b]);
    const uint s = g / 2;
    const uvec2 sc = scale_min_k4(b + 1, s);
    precise float dl = dm.x * float(sc.x);
    precise float ml = dm.y * float(sc.y);
    const uint q_word = b + 4 + 8 * (s / 2) + 4 * (g % 2);
    for (uint k = 0; k < 4; k++) {
        precise vec4 v = dl * vec4(nibbles(weights[q_word + k], s % 2)) - ml;
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q5_K)
// q4_K with qh[32] before qs: bit s of qh[l] is the fifth bit of value l of sub-block s.
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 44;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 dm = unpackHalf2x16(weights[b]);
    const uint s = g / 2;
    const uvec2 sc = scale_min_k4(b + 1, s);
    precise float dl = dm.x * float(sc.x);
    precise float ml = dm.y * float(sc.y);
    const uint q_word = b + 12 + 8 * (s / 2) + 4 * (g % 2), h_word = b + 4 + 4 * (g % 2);
    for (uint k = 0; k < 4; k++) {
        const uvec4 q = nibbles(weights[q_word + k], s % 2) | ((bytes4(weights[h_word + k] >> s) & 1u) << 4);
        precise vec4 v = dl * vec4(q) - ml;
        w[k] = v;
    }
}

#elif defined(WEIGHT_Q6_K)
// 256 values, 16 sub-blocks of 16: ql[128] (low 4 bits), qh[64] (high 2 bits),
// 16 int8 scales, d, padding. In half h of 128 values, quarter t reads the low
// (t < 2) or high nibbles of ql bytes 64 h + 32 (t % 2) .. and bits 2t of qh
// bytes 32 h ..; sub-block s = 8 h + 2 t + (second 16 of the 32).
// Value = d * scale * (q - 32).
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 53;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b + 52]).x;
    const uint h = g / 8, t = (g % 8) / 2, second = g % 2;
    precise float ds = d * float(bitfieldExtract(int(weights[b + 48 + g / 4]), int(8 * (g % 4)), 8));
    const uint l_word = b + 16 * h + 8 * (t % 2) + 4 * second, h_word = b + 32 + 8 * h + 4 * second;
    for (uint k = 0; k < 4; k++) {
        const uvec4 q = nibbles(weights[l_word + k], t / 2) | ((bytes4(weights[h_word + k] >> (2 * t)) & 3u) << 4);
        precise vec4 v = ds * vec4(ivec4(q) - 32);
        w[k] = v;
    }
}

#elif defined(WEIGHT_IQ4_NL)
// q4_0's layout, each nibble an index into 16 non-linear levels; d * level.
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 5;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const float d = unpackHalf2x16(weights[b]).x;
    for (uint k = 0; k < 4; k++) w[k] = d * iq4_levels(nibbles(weights[b + 1 + k], g));
}

#elif defined(WEIGHT_IQ4_XS)
// 256 values: d, the high bit pairs of eight 6-bit scales (offset by 32), their
// low nibbles, then iq4_nl's nibbles per sub-block of 32. Value = d * (scale - 32) * level.
const uint BLOCK_VALUES = 256;
const uint BLOCK_WORDS = 34;
void dequant16(uint b, uint g, out vec4 w[4]) {
    const vec2 d_high = unpackHalf2x16(weights[b]);
    const uint s = g / 2;
    const uint scale = ((byte_at(b + 1, s / 2) >> (4 * (s % 2))) & 15u) | (((weights[b] >> (16 + 2 * s)) & 3u) << 4);
    precise float dl = d_high.x * float(int(scale) - 32);
    for (uint k = 0; k < 4; k++) {
        precise vec4 v = dl * iq4_levels(nibbles(weights[b + 2 + 4 * s + k], g % 2));
        w[k] = v;
    }
}

#else
#error "define one WEIGHT_<TYPE> of model/weight_types.inc"
#endif

#if defined(PLAIN_ROWS)
const uint UNIT = 4;
void read_weights(uint row, uint u, uint cols, bool whole, out vec4 w[UNIT / 4]) {
    const uint first = UNIT * u, e = row * cols + first;
    if (whole) {
        w[0] = plain4(e);
        return;
    }
    const uint last = row * cols + cols - 1;  // reads stay inside the row
    for (uint i = 0; i < 4; i++) w[0][i] = first + i < cols ? plain_value(min(e + i, last)) : 0.0;
}
#else
const uint UNIT = 16;
void read_weights(uint row, uint u, uint cols, bool whole, out vec4 w[UNIT / 4]) {
    const uint groups_per_block = BLOCK_VALUES / 16;
    const uint block = row * (cols / BLOCK_VALUES) + u / groups_per_block;
    dequant16(block * BLOCK_WORDS, u % groups_per_block, w);
}
#endif
