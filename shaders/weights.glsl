// Reading one weight matrix [rows][cols] in its device layout. Exactly one of
// WEIGHT_F32, WEIGHT_F16, WEIGHT_Q8_0, WEIGHT_Q4_0 is defined by the build.
// Every layout is an array of 32-bit words, so no 8/16-bit storage feature is
// needed (runtime/gpu_tensor.cpp writes these layouts):
//   f32   one float per word
//   f16   two halves per word, element e in half (e & 1) of word e >> 1
//   q8_0  blocks of 32 values in 9 words: f32 scale, then 32 int8 (4 per word)
//   q4_0  blocks of 32 values in 5 words: f32 scale, then 16 bytes; element j
//         in the low nibble of byte j, element j + 16 in the high nibble; (q - 8) * d
//
// dequant() reads one value; BLOCK_VALUES is the format's block length (rows
// of the block formats hold whole blocks).

#if defined(WEIGHT_F32)
const uint BLOCK_VALUES = 1;
float dequant(uint row, uint col, uint cols) { return uintBitsToFloat(weights[row * cols + col]); }

#elif defined(WEIGHT_F16)
const uint BLOCK_VALUES = 1;
float dequant(uint row, uint col, uint cols) {
    const uint e = row * cols + col;
    return unpackHalf2x16(weights[e >> 1])[e & 1u];
}

#elif defined(WEIGHT_Q8_0)
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 9;
float dequant(uint row, uint col, uint cols) {
    const uint b = (row * (cols / 32) + col / 32) * BLOCK_WORDS;
    const uint j = col % 32;
    return uintBitsToFloat(weights[b]) * float(bitfieldExtract(int(weights[b + 1 + j / 4]), int(8 * (j % 4)), 8));
}

#elif defined(WEIGHT_Q4_0)
const uint BLOCK_VALUES = 32;
const uint BLOCK_WORDS = 5;
float dequant(uint row, uint col, uint cols) {
    const uint b = (row * (cols / 32) + col / 32) * BLOCK_WORDS;
    const uint j = col % 16;
    const uint byte_value = bitfieldExtract(weights[b + 1 + j / 4], int(8 * (j % 4)), 8);
    const uint q = (col % 32) < 16 ? (byte_value & 15u) : (byte_value >> 4);
    return uintBitsToFloat(weights[b]) * (float(q) - 8.0);
}

#else
#error "define one of WEIGHT_F32, WEIGHT_F16, WEIGHT_Q8_0, WEIGHT_Q4_0"
#endif
