#include "tensor.hpp"

#include <cmath>
#include <cstring>

#include "checked_math.hpp"
#include "error.hpp"

namespace wkv {

namespace {

constexpr WeightType kWeightTypes[] = {
#define WEIGHT_TYPE(name, ggml_id, block_values, block_bytes, pad_at) \
    {TensorType::name, #name, ggml_id, block_values, block_bytes, pad_at, dequantize_##name},
#include "weight_types.inc"
#undef WEIGHT_TYPE
};

}  // namespace

std::span<const WeightType> weight_types() { return kWeightTypes; }

const WeightType& weight_type(TensorType type) {
    for (const WeightType& w : kWeightTypes) {
        if (w.type == type) return w;
    }
    throw std::logic_error("weight_type: llama2.c's q8 groups have no row in the type table");
}

const WeightType* weight_type_by_ggml_id(uint32_t ggml_id) {
    for (const WeightType& w : kWeightTypes) {
        if (w.ggml_id == ggml_id) return &w;
    }
    return nullptr;
}

std::string weight_type_list() {
    std::string s;
    for (const WeightType& w : kWeightTypes) s += (s.empty() ? "" : ", ") + std::string(w.name);
    return s;
}

const char* tensor_type_name(TensorType type) {
    return type == TensorType::q8_grouped ? "q8 (llama2.c groups)" : weight_type(type).name;
}

uint64_t tensor_bytes(const std::string& name, TensorType type, uint64_t rows, uint64_t cols, uint32_t group_size) {
    auto elements = checked_mul(rows, cols);
    if (!elements) fail(name, "shape " + std::to_string(rows) + " x " + std::to_string(cols) + " overflows");
    std::optional<uint64_t> bytes;
    if (type == TensorType::q8_grouped) {
        // llama2.c groups the flattened tensor, so a group may straddle two rows.
        if (group_size == 0 || *elements % group_size != 0) {
            fail(name, "q8 group size " + std::to_string(group_size) + " does not divide the tensor's " +
                           std::to_string(*elements) + " values");
        }
        bytes = checked_add(*elements, *elements / group_size * 4);
    } else {
        const WeightType& w = weight_type(type);
        // Blocks never straddle rows in ggml's layout.
        if (cols % w.block_values != 0) {
            fail(name, std::string(w.name) + " needs a row length that is a multiple of " +
                           std::to_string(w.block_values) + ", got " + std::to_string(cols));
        }
        bytes = checked_mul(*elements / w.block_values, w.block_bytes);
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
    if (abs > 0x7f800000) return sign | 0x7e00;           // NaN
    if (abs >= 0x477ff000) return sign | 0x7c00;          // rounds to infinity
    if (abs < 0x38800000) {                               // subnormal or zero in f16
        const float scaled = std::fabs(f) * 16777216.0f;  // 2^24: units of the smallest subnormal
        return sign | static_cast<uint16_t>(std::nearbyint(scaled));
    }
    // Normal: rebias the exponent and round the mantissa to 10 bits, ties to even.
    const uint32_t rounded = abs + 0xfff + ((abs >> 13) & 1);
    return sign | static_cast<uint16_t>((rounded - 0x38000000) >> 13);
}

void dequantize_row(const TensorView& t, uint64_t row, float* out) {
    if (t.type == TensorType::q8_grouped) {
        const uint64_t first = row * t.cols;
        for (uint64_t i = 0; i < t.cols; i++) {
            const uint64_t flat = first + i;
            float scale;
            std::memcpy(&scale, t.scales + (flat / t.group_size) * 4, 4);
            out[i] = scale * static_cast<float>(static_cast<int8_t>(t.data[flat]));
        }
        return;
    }
    const WeightType& w = weight_type(t.type);
    const uint64_t blocks = t.cols / w.block_values;
    w.dequantize(t.data + row * blocks * w.block_bytes, blocks, out);
}

}  // namespace wkv
