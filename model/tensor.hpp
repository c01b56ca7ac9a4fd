// Weight tensors as views into a mapped model file, and the table of weight
// types (model/weight_types.inc) with each type's CPU dequantiser
// (model/dequantize.cpp). Matrices are row-major [rows][cols] with `cols` the
// input dimension, so a matrix-vector product reads one row per output.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace wkv {

enum class TensorType {
#define WEIGHT_TYPE(name, ggml_id, block_values, block_bytes, pad_at) name,
#include "weight_types.inc"
#undef WEIGHT_TYPE
    q8_grouped,  // llama2.c version 2: all int8 values, then one f32 scale per `group_size`
                 // values of the flattened tensor. Groups may straddle rows, so it has no
                 // row of the table: the loader reads it, dequantize_row decodes it, and
                 // the device stores it as f32.
};

// One row of model/weight_types.inc.
struct WeightType {
    TensorType type;
    const char* name;       // ggml's name: "q4_0"
    uint32_t ggml_id;       // ggml_type
    uint32_t block_values;  // values per block; 1 for plain arrays (f32, f16)
    uint32_t block_bytes;   // bytes per block in the file
    uint32_t pad_at;        // where the device layout pads a block to whole words
    // Decodes `n_blocks` consecutive blocks into n_blocks * block_values floats.
    void (*dequantize)(const uint8_t* blocks, uint64_t n_blocks, float* out);
};

std::span<const WeightType> weight_types();
const WeightType& weight_type(TensorType type);              // not for q8_grouped
const WeightType* weight_type_by_ggml_id(uint32_t ggml_id);  // null when unsupported
std::string weight_type_list();                              // "f32, f16, q4_0, q8_0": for errors and help

const char* tensor_type_name(TensorType type);

struct TensorView {
    std::string name;
    TensorType type = TensorType::f32;
    uint64_t rows = 0;
    uint64_t cols = 0;
    const uint8_t* data = nullptr;    // the blocks, or the int8 values of q8_grouped
    const uint8_t* scales = nullptr;  // q8_grouped only: f32 scales
    uint32_t group_size = 0;          // q8_grouped only

    uint64_t elements() const { return rows * cols; }
};

// Bytes that a tensor of this type and shape occupies in the file (for
// q8_grouped: values and scales together). Throws wkv::Error naming `name`
// when the shape does not fit the format or the size overflows.
uint64_t tensor_bytes(const std::string& name, TensorType type, uint64_t rows, uint64_t cols, uint32_t group_size = 0);

// Writes the `cols` values of row `row` as floats into out[0..cols).
void dequantize_row(const TensorView& t, uint64_t row, float* out);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even; for tests and tools

// The CPU dequantisers, one per row of the table (model/dequantize.cpp).
#define WEIGHT_TYPE(name, ggml_id, block_values, block_bytes, pad_at) \
    void dequantize_##name(const uint8_t* blocks, uint64_t n_blocks, float* out);
#include "weight_types.inc"
#undef WEIGHT_TYPE

}  // namespace wkv
