#include "quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor.hpp"

namespace wkv {

namespace {

constexpr int kBlock = 32;

// The scale is stored in f16, but the codes are computed with its f32 value, as
// llama.cpp does: the dequantised block uses the rounded scale.
void put_scale(float d, uint8_t* out) {
    const uint16_t h = f32_to_f16(d);
    std::memcpy(out, &h, 2);
}

}  // namespace

void quantize_q8_0(const float* x, uint64_t n_blocks, uint8_t* out) {
    for (uint64_t b = 0; b < n_blocks; b++, x += kBlock, out += 2 + kBlock) {
        float amax = 0.0f;
        for (int j = 0; j < kBlock; j++) amax = std::max(amax, std::fabs(x[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_scale(d, out);
        for (int j = 0; j < kBlock; j++) {
            const float scaled = x[j] * id;  // a float product, then rounded: as the reference
            out[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(scaled)));
        }
    }
}

void quantize_q4_0(const float* x, uint64_t n_blocks, uint8_t* out) {
    for (uint64_t b = 0; b < n_blocks; b++, x += kBlock, out += 2 + kBlock / 2) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < kBlock; j++) {
            if (amax < std::fabs(x[j])) {
                amax = std::fabs(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        put_scale(d, out);
        auto code = [&](int j) {
            const float shifted = x[j] * id + 8.5f;  // in [0.5, 16.5]: truncation rounds half up
            return static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(shifted))));
        };
        for (int j = 0; j < kBlock / 2; j++) out[2 + j] = static_cast<uint8_t>(code(j) | (code(j + kBlock / 2) << 4));
    }
}

}  // namespace wkv
