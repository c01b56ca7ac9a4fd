#include "tensor.hpp"

#include <cmath>
#include <cstring>

#include "checked_math.hpp"
#include "error.hpp"

namespace wkv {

namespace {

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

}  // namespace

const char* tensor_type_name(TensorType type) {
    switch (type) {
        case TensorType::f32: return "f32";
        case TensorType::f16: return "f16";
        case TensorType::q8_0: return "q8_0";
        case TensorType::q4_0: return "q4_0";
        case TensorType::q8_grouped: return "q8 (llama2.c groups)";
    }
    return "?";
}

uint64_t tensor_bytes(const std::string& name, TensorType type, uint64_t rows, uint64_t cols,
                      uint32_t group_size) {
    auto elements = checked_mul(rows, cols);
    if (!elements) fail(name, "shape " + std::to_string(rows) + " x " + std::to_string(cols) + " overflows");
    std::optional<uint64_t> bytes;
    switch (type) {
        case TensorType::f32: bytes = checked_mul(*elements, 4); break;
        case TensorType::f16: bytes = checked_mul(*elements, 2); break;
        case TensorType::q8_0:
        case TensorType::q4_0:
            // Blocks never straddle rows in ggml's layout.
            if (cols % kBlockSize != 0) {
                fail(name, std::string(tensor_type_name(type)) + " needs a row length that is a multiple of 32, got " +
                               std::to_string(cols));
            }
            bytes = checked_mul(*elements / kBlockSize,
                                type == TensorType::q8_0 ? kQ8_0BlockBytes : kQ4_0BlockBytes);
            break;
        case TensorType::q8_grouped:
            // llama2.c groups the flattened tensor, so a group may straddle two rows.
            if (group_size == 0 || *elements % group_size != 0) {
                fail(name, "q8 group size " + std::to_string(group_size) + " does not divide the tensor's " +
                               std::to_string(*elements) + " values");
            }
            bytes = checked_add(*elements, *elements / group_size * 4);
            break;
    }
    if (!bytes) fail(name, "size of shape " + std::to_string(rows) + " x " + std::to_string(cols) + " overflows");
    return *bytes;
}

float f16_to_f32(uint16_t h) {
    // Exact conversion by moving the bit fields (subnormal halves are
    // normalised, since every half is a normal float).
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1f;
    uint32_t mantissa = h & 0x3ff;
    uint32_t bits;
    if (exponent == 31) {
        bits = sign | 0x7f800000 | (mantissa << 13);  // inf, NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        exponent = 113;
        while (!(mantissa & 0x400)) {
            mantissa <<= 1;
            exponent--;
        }
        bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t abs = x & 0x7fffffff;
    if (abs > 0x7f800000) return sign | 0x7e00;  // NaN
    if (abs >= 0x477ff000) return sign | 0x7c00;  // rounds to infinity
    if (abs < 0x38800000) {                       // subnormal or zero in f16
        const float scaled = std::fabs(f) * 16777216.0f;  // 2^24: units of the smallest subnormal
        return sign | static_cast<uint16_t>(std::nearbyint(scaled));
    }
    // Normal: rebias the exponent and round the mantissa to 10 bits, ties to even.
    const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
    return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

void dequantize_row(const TensorView& t, uint64_t row, float* out) {
    const uint64_t n = t.cols;
    switch (t.type) {
        case TensorType::f32:
            std::memcpy(out, t.data + row * n * 4, n * 4);
            return;
        case TensorType::f16: {
            const uint8_t* p = t.data + row * n * 2;
            for (uint64_t i = 0; i < n; i++) out[i] = f16_to_f32(load<uint16_t>(p + 2 * i));
            return;
        }
        case TensorType::q8_0: {
            const uint8_t* block = t.data + row * (n / kBlockSize) * kQ8_0BlockBytes;
            for (uint64_t b = 0; b < n / kBlockSize; b++, block += kQ8_0BlockBytes) {
                const float d = f16_to_f32(load<uint16_t>(block));
                for (uint32_t j = 0; j < kBlockSize; j++) {
                    out[b * kBlockSize + j] = d * static_cast<float>(static_cast<int8_t>(block[2 + j]));
                }
            }
            return;
        }
        case TensorType::q4_0: {
            const uint8_t* block = t.data + row * (n / kBlockSize) * kQ4_0BlockBytes;
            for (uint64_t b = 0; b < n / kBlockSize; b++, block += kQ4_0BlockBytes) {
                const float d = f16_to_f32(load<uint16_t>(block));
                for (uint32_t j = 0; j < kBlockSize / 2; j++) {
                    const uint8_t byte = block[2 + j];
                    out[b * kBlockSize + j] = d * static_cast<float>((byte & 0x0f) - 8);
                    out[b * kBlockSize + j + 16] = d * static_cast<float>((byte >> 4) - 8);
                }
            }
            return;
        }
        case TensorType::q8_grouped: {
            const uint64_t first = row * n;
            for (uint64_t i = 0; i < n; i++) {
                const uint64_t flat = first + i;
                const float scale = load<float>(t.scales + (flat / t.group_size) * 4);
                out[i] = scale * static_cast<float>(static_cast<int8_t>(t.data[flat]));
            }
            return;
        }
    }
}

}  // namespace wkv
