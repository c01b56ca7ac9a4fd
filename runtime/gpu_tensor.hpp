// A weight matrix on the device, in the word layout shaders/weights.glsl
// reads: the file's blocks, each padded to a whole number of 32-bit words at
// its type's pad_at (model/weight_types.inc), so no shader needs 8- or 16-bit
// storage; plain arrays (f32, f16) as they are. A matrix larger than the
// device's maxStorageBufferRange (128 MiB on lavapipe) is split into chunks of
// whole rows, each its own buffer, so 7B-class embeddings work everywhere;
// kernels dispatch once per chunk.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "buffer.hpp"
#include "tensor.hpp"

namespace wkv {

struct GpuTensorChunk {
    Buffer buffer;
    uint32_t first_row;
    uint32_t rows;
};

struct GpuTensor {
    std::string name;
    TensorType type = TensorType::f32;  // a row of the weight type table
    uint32_t rows = 0;
    uint32_t cols = 0;
    std::vector<GpuTensorChunk> chunks;

    uint64_t bytes() const;
};

// The device type a file type is stored as: llama2.c's q8 groups may straddle
// rows, so they are dequantised to f32 on upload (exactly: scale x int8 in
// float, the same product the CPU reference computes).
TensorType device_type(TensorType file_type);
uint64_t device_bytes(TensorType device_type, uint64_t rows, uint64_t cols);

// The most rows of a `rows` x `cols` matrix of `type` one buffer of `limit` bytes holds (at
// most `rows`; 0 if not even one).
uint64_t rows_per_chunk(TensorType device_type, uint64_t cols, uint64_t rows, uint64_t limit);

// Rows [first_row, first_row + n_rows) of `t` in the device layout.
std::vector<uint32_t> device_words(const TensorView& t, uint64_t first_row, uint64_t n_rows);

// max_chunk_bytes: 0 = DeviceInfo::max_buffer_bytes (tests force smaller).
GpuTensor upload_tensor(Context& ctx, const TensorView& t, uint64_t max_chunk_bytes = 0);

// Whether matrices can be stacked into one (stack_tensors): the same device type and columns.
bool stackable(std::span<const TensorView* const> parts);
// The rows of `parts` one after another as one matrix named `name`, so one
// dispatch computes what would take one per part (Q, K and V; gate and up).
GpuTensor stack_tensors(Context& ctx, const std::string& name, std::span<const TensorView* const> parts,
                        uint64_t max_chunk_bytes = 0);

}  // namespace wkv
