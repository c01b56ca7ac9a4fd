// The CPU dequantisers: one function per weight type (model/weight_types.inc),
// each decoding whole blocks exactly as ggml lays them out and computes them.
// The GLSL side mirrors each in shaders/weights.glsl.
#include <cstring>

#include "tensor.hpp"

namespace wkv {

namespace {

uint16_t u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

float half(const uint8_t* p) { return f16_to_f32(u16(p)); }

uint32_t u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The 16 non-linear levels of iq4_nl and iq4_xs.
constexpr int8_t kIq4Levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// The 6-bit scale and min of sub-block j (0..7) of q4_K and q5_K, packed in 12 bytes.
void scale_min_k4(const uint8_t* scales, int j, int& scale, int& min) {
    if (j < 4) {
        scale = scales[j] & 63;
        min = scales[j + 4] & 63;
    } else {
        scale = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
        min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
    }
}

}  // namespace

void dequantize_f32(const uint8_t* blocks, uint64_t n, float* out) { std::memcpy(out, blocks, n * 4); }

void dequantize_f16(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t i = 0; i < n; i++) out[i] = half(blocks + 2 * i);
}

// bf16: the upper half of an f32.
void dequantize_bf16(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t i = 0; i < n; i++) {
        const uint32_t bits = uint32_t{u16(blocks + 2 * i)} << 16;
        std::memcpy(&out[i], &bits, 4);
    }
}

// q4_0: f16 scale d, then 16 bytes: value j in the low nibble of byte j, value
// j + 16 in the high nibble; value = (q - 8) * d.
void dequantize_q4_0(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 18, out += 32) {
        const float d = half(blocks);
        for (int j = 0; j < 16; j++) {
            out[j] = static_cast<float>((blocks[2 + j] & 0x0f) - 8) * d;
            out[j + 16] = static_cast<float>((blocks[2 + j] >> 4) - 8) * d;
        }
    }
}

// q8_0: f16 scale d, then 32 int8 values; value = q * d.
void dequantize_q8_0(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 34, out += 32) {
        const float d = half(blocks);
        for (int j = 0; j < 32; j++) out[j] = static_cast<float>(static_cast<int8_t>(blocks[2 + j])) * d;
    }
}

// q4_1: f16 scale d and minimum m, then nibbles as in q4_0; value = q * d + m.
void dequantize_q4_1(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 20, out += 32) {
        const float d = half(blocks), m = half(blocks + 2);
        for (int j = 0; j < 16; j++) {
            out[j] = static_cast<float>(blocks[4 + j] & 0x0f) * d + m;
            out[j + 16] = static_cast<float>(blocks[4 + j] >> 4) * d + m;
        }
    }
}

// q5_0: f16 scale d, 32 high bits (bit j for value j), nibbles as in q4_0;
// value = (q - 16) * d with q the nibble and its high bit.
void dequantize_q5_0(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 22, out += 32) {
        const float d = half(blocks);
        const uint32_t high = u32(blocks + 2);
        for (int j = 0; j < 16; j++) {
            const int q0 = ((blocks[6 + j] & 0x0f) | (((high >> j) & 1) << 4)) - 16;
            const int q1 = ((blocks[6 + j] >> 4) | (((high >> (j + 16)) & 1) << 4)) - 16;
            out[j] = static_cast<float>(q0) * d;
            out[j + 16] = static_cast<float>(q1) * d;
        }
    }
}

// q5_1: f16 scale d and minimum m, 32 high bits, nibbles; value = q * d + m.
void dequantize_q5_1(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 24, out += 32) {
        const float d = half(blocks), m = half(blocks + 2);
        const uint32_t high = u32(blocks + 4);
        for (int j = 0; j < 16; j++) {
            const int q0 = (blocks[8 + j] & 0x0f) | (((high >> j) & 1) << 4);
            const int q1 = (blocks[8 + j] >> 4) | (((high >> (j + 16)) & 1) << 4);
            out[j] = static_cast<float>(q0) * d + m;
            out[j + 16] = static_cast<float>(q1) * d + m;
        }
    }
}

// The K-quants hold 256 values in sub-blocks of 16 or 32, each with its own
// scale (and minimum), quantised against the super-block's f16 d (and dmin).
// Their bits are interleaved: sub-block s of q2_K/q3_K/q6_K takes 2 bits of
// each of 16 bytes, at a shift that steps every other sub-block.

// q2_K: 16 sub-blocks of 16; scales[16] (4-bit scale, 4-bit min), qs[64] of 2-bit q,
// then d and dmin. Value = d * scale * q - dmin * min.
void dequantize_q2_K(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 84, out += 256) {
        const uint8_t* scales = blocks;
        const uint8_t* qs = blocks + 16;
        const float d = half(blocks + 80), dmin = half(blocks + 82);
        for (int s = 0; s < 16; s++) {
            const int half_block = s / 8, shift = 2 * ((s % 8) / 2), second = s % 2;
            const float dl = d * static_cast<float>(scales[s] & 0x0f), ml = dmin * static_cast<float>(scales[s] >> 4);
            const uint8_t* q = qs + 32 * half_block + 16 * second;
            for (int l = 0; l < 16; l++) out[16 * s + l] = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
        }
    }
}

// q3_K: 16 sub-blocks of 16; hmask[32] (the third bit, 0 meaning subtract 4), qs[64] of
// 2-bit q, 12 bytes of 6-bit scales (offset by 32), then d. Value = d * (scale - 32) * q.
void dequantize_q3_K(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 110, out += 256) {
        const uint8_t* hmask = blocks;
        const uint8_t* qs = blocks + 32;
        const uint8_t* packed = blocks + 96;
        const float d = half(blocks + 108);
        for (int s = 0; s < 16; s++) {
            // Scale s: 4 low bits from a nibble of bytes 0..7, 2 high bits from bytes 8..11.
            const int low = (packed[(s % 8)] >> (4 * (s / 8))) & 0x0f;
            const int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
            const float dl = d * static_cast<float>((low | (high << 4)) - 32);
            const int half_block = s / 8, step = (s % 8) / 2, second = s % 2;
            const uint8_t* q = qs + 32 * half_block + 16 * second;
            const uint8_t* h = hmask + 16 * second;
            const int bit = 4 * half_block + step;
            for (int l = 0; l < 16; l++) {
                const int value = ((q[l] >> (2 * step)) & 3) - ((h[l] >> bit) & 1 ? 0 : 4);
                out[16 * s + l] = dl * static_cast<float>(value);
            }
        }
    }
}

// q4_K: d, dmin, 12 bytes of 6-bit scales and mins, qs[128]: 8 sub-blocks of 32,
// sub-block 2c in the low nibbles of bytes 32c..32c+31, 2c + 1 in their high nibbles.
// Value = d * scale * q - dmin * min.
void dequantize_q4_K(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 144, out += 256) {
        const float d = half(blocks), dmin = half(blocks + 2);
        for (int s = 0; s < 8; s++) {
            int scale, min;
            scale_min_k4(blocks + 4, s, scale, min);
            const float dl = d * static_cast<float>(scale), ml = dmin * static_cast<float>(min);
            const uint8_t* q = blocks + 16 + 32 * (s / 2);
            for (int l = 0; l < 32; l++) out[32 * s + l] = dl * static_cast<float>((q[l] >> (4 * (s % 2))) & 0x0f) - ml;
        }
    }
}

// q5_K: q4_K with a fifth bit per value: bit s of qh[l] for value l of sub-block s.
void dequantize_q5_K(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 176, out += 256) {
        const float d = half(blocks), dmin = half(blocks + 2);
        const uint8_t* qh = blocks + 16;
        for (int s = 0; s < 8; s++) {
            int scale, min;
            scale_min_k4(blocks + 4, s, scale, min);
            const float dl = d * static_cast<float>(scale), ml = dmin * static_cast<float>(min);
            const uint8_t* q = blocks + 48 + 32 * (s / 2);
            for (int l = 0; l < 32; l++) {
                const int value = ((q[l] >> (4 * (s % 2))) & 0x0f) | (((qh[l] >> s) & 1) << 4);
                out[32 * s + l] = dl * static_cast<float>(value) - ml;
            }
        }
    }
}

// q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), 16 int8 scales, d: 16 sub-blocks
// of 16. Value = d * scale * (q - 32). In each half of 128 values, quarter t reads
// the low (t < 2) or high nibbles of ql, bytes 32 (t % 2) on, and bits 2t of qh.
void dequantize_q6_K(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 210, out += 256) {
        const float d = half(blocks + 208);
        for (int s = 0; s < 16; s++) {
            const int half_block = s / 8, t = (s % 8) / 2, second = s % 2;
            const float scale = static_cast<float>(static_cast<int8_t>(blocks[192 + 8 * half_block + 2 * t + second]));
            const uint8_t* ql = blocks + 64 * half_block + 32 * (t % 2) + 16 * second;
            const uint8_t* qh = blocks + 128 + 32 * half_block + 16 * second;
            for (int l = 0; l < 16; l++) {
                const int value = (((ql[l] >> (4 * (t / 2))) & 0x0f) | (((qh[l] >> (2 * t)) & 3) << 4)) - 32;
                out[16 * s + l] = d * scale * static_cast<float>(value);
            }
        }
    }
}

// iq4_nl: q4_0's layout, the nibble an index into 16 non-linear levels; value = d * level.
void dequantize_iq4_nl(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 18, out += 32) {
        const float d = half(blocks);
        for (int j = 0; j < 16; j++) {
            out[j] = d * static_cast<float>(kIq4Levels[blocks[2 + j] & 0x0f]);
            out[j + 16] = d * static_cast<float>(kIq4Levels[blocks[2 + j] >> 4]);
        }
    }
}

// iq4_xs: d, 8 sub-blocks of 32 with 6-bit scales (high bits in a u16, low nibbles
// in 4 bytes, offset by 32), then iq4_nl's nibbles per sub-block.
// Value = d * (scale - 32) * level.
void dequantize_iq4_xs(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t b = 0; b < n; b++, blocks += 136, out += 256) {
        const float d = half(blocks);
        const uint16_t scales_high = u16(blocks + 2);
        for (int s = 0; s < 8; s++) {
            const int scale = ((blocks[4 + s / 2] >> (4 * (s % 2))) & 0x0f) | (((scales_high >> (2 * s)) & 3) << 4);
            const float dl = d * static_cast<float>(scale - 32);
            const uint8_t* q = blocks + 8 + 16 * s;
            for (int j = 0; j < 16; j++) {
                out[32 * s + j] = dl * static_cast<float>(kIq4Levels[q[j] & 0x0f]);
                out[32 * s + j + 16] = dl * static_cast<float>(kIq4Levels[q[j] >> 4]);
            }
        }
    }
}

}  // namespace wkv
