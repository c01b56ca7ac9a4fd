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

#if defined(WEIGHT_F32)
#define PLAIN_ROWS 1
layout(std430, binding = 0) readonly buffer Weights4 { vec4 weights4[]; };
float plain_value(uint e) { return uintBitsToFloat(weights[e]); }
vec4 plain4(uint e) { return weights4[e / 4]; }

#elif defined(WEIGHT_F16)
#define PLAIN_ROWS 1
float plain_value(uint e) { return unpackHalf2x16(weights[e >> 1])[e & 1u]; }
vec4 plain4(uint e) { return vec4(unpackHalf2x16(weights[e / 2]), unpackHalf2x16(weights[e / 2 + 1])); }

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
