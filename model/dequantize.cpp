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

}  // namespace

void dequantize_f32(const uint8_t* blocks, uint64_t n, float* out) { std::memcpy(out, blocks, n * 4); }

void dequantize_f16(const uint8_t* blocks, uint64_t n, float* out) {
    for (uint64_t i = 0; i < n; i++) out[i] = half(blocks + 2 * i);
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

}  // namespace wkv
