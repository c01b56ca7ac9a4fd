// Weight tensors as views into a mapped model file, and the dequantisers of
// the block formats. Matrices are row-major [rows][cols] with `cols` the input
// dimension, so a matrix-vector product reads one row per output.
#pragma once

#include <cstdint>
#include <string>

namespace wkv {

enum class TensorType {
    f32,
    f16,
    q8_0,        // ggml: blocks of 32 values, f16 scale + 32 x int8          (34 bytes)
    q4_0,        // ggml: blocks of 32 values, f16 scale + 16 bytes of nibbles (18 bytes)
    q8_grouped,  // llama2.c version 2: all int8 values, then one f32 scale per
                 // `group_size` values of the flattened tensor
};

const char* tensor_type_name(TensorType type);

constexpr uint32_t kBlockSize = 32;  // values per q8_0 / q4_0 block
constexpr uint32_t kQ8_0BlockBytes = 34;
constexpr uint32_t kQ4_0BlockBytes = 18;

struct TensorView {
    std::string name;
    TensorType type = TensorType::f32;
    uint64_t rows = 0;
    uint64_t cols = 0;
    const uint8_t* data = nullptr;    // f32/f16/blocks, or the int8 values of q8_grouped
    const uint8_t* scales = nullptr;  // q8_grouped only: f32 scales
    uint32_t group_size = 0;          // q8_grouped only

    uint64_t elements() const { return rows * cols; }
};

// Bytes that a tensor of this type and shape occupies in the file (for
// q8_grouped: values and scales together). Throws wkv::Error naming `name`
// when the shape does not fit the format or the size overflows.
uint64_t tensor_bytes(const std::string& name, TensorType type, uint64_t rows, uint64_t cols,
                      uint32_t group_size = 0);

// Writes the `cols` values of row `row` as floats into out[0..cols).
void dequantize_row(const TensorView& t, uint64_t row, float* out);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even; for tests and tools

}  // namespace wkv
