#include "gpu_tensor.hpp"

#include <algorithm>
#include <cstring>

#include "error.hpp"

namespace wkv {

TensorType device_type(TensorType file_type) {
    return file_type == TensorType::q8_grouped ? TensorType::f32 : file_type;
}

uint64_t device_bytes(TensorType type, uint64_t rows, uint64_t cols) {
    switch (type) {
        case TensorType::f16: return (rows * cols + 1) / 2 * 4;
        case TensorType::q8_0: return rows * cols / kBlockSize * 9 * 4;
        case TensorType::q4_0: return rows * cols / kBlockSize * 5 * 4;
        default: return rows * cols * 4;
    }
}

uint64_t GpuTensor::bytes() const {
    uint64_t total = 0;
    for (const GpuTensorChunk& c : chunks) total += device_bytes(type, c.rows, cols);
    return total;
}

std::vector<uint32_t> device_words(const TensorView& t, uint64_t first_row, uint64_t n_rows) {
    const TensorType type = device_type(t.type);
    std::vector<uint32_t> words(device_bytes(type, n_rows, t.cols) / 4);
    switch (type) {
        case TensorType::f32: {
            std::vector<float> row(t.cols);
            for (uint64_t r = 0; r < n_rows; r++) {
                dequantize_row(t, first_row + r, row.data());
                std::memcpy(&words[r * t.cols], row.data(), t.cols * 4);
            }
            break;
        }
        case TensorType::f16:
            std::memcpy(words.data(), t.data + first_row * t.cols * 2, n_rows * t.cols * 2);
            break;
        case TensorType::q8_0:
        case TensorType::q4_0: {
            const bool q8 = type == TensorType::q8_0;
            const uint64_t file_block = q8 ? kQ8_0BlockBytes : kQ4_0BlockBytes;
            const uint64_t quant_bytes = file_block - 2, block_words = q8 ? 9 : 5;
            const uint64_t blocks = n_rows * t.cols / kBlockSize;
            const uint8_t* src = t.data + first_row * (t.cols / kBlockSize) * file_block;
            for (uint64_t b = 0; b < blocks; b++, src += file_block) {
                uint16_t half;
                std::memcpy(&half, src, 2);
                const float scale = f16_to_f32(half);
                std::memcpy(&words[b * block_words], &scale, 4);
                std::memcpy(&words[b * block_words + 1], src + 2, quant_bytes);
            }
            break;
        }
        case TensorType::q8_grouped:
            break;  // never a device type
    }
    return words;
}

GpuTensor upload_tensor(Context& ctx, const TensorView& t, uint64_t max_chunk_bytes) {
    GpuTensor g;
    g.name = t.name;
    g.type = device_type(t.type);
    g.rows = static_cast<uint32_t>(t.rows);
    g.cols = static_cast<uint32_t>(t.cols);
    const uint64_t limit = max_chunk_bytes ? max_chunk_bytes : ctx.info().max_storage_buffer_range;
    // Each chunk is repacked from its own first value, so any row count fits
    // the layouts; take the most rows whose bytes stay within the limit.
    const uint64_t row_bytes = device_bytes(g.type, 1, t.cols);
    uint64_t rows_per_chunk = std::min<uint64_t>(limit / row_bytes, t.rows);
    while (rows_per_chunk > 0 && device_bytes(g.type, rows_per_chunk, t.cols) > limit) rows_per_chunk--;
    if (rows_per_chunk == 0) {
        throw Error("tensor '" + t.name + "': one row (" + std::to_string(row_bytes) + " bytes) exceeds the device's storage buffer range of " +
                        std::to_string(limit) + " bytes",
                    ExitCode::device);
    }
    for (uint64_t first = 0; first < t.rows; first += rows_per_chunk) {
        const uint64_t n = std::min(rows_per_chunk, t.rows - first);
        const std::vector<uint32_t> words = device_words(t, first, n);
        Buffer buffer(ctx, words.size() * 4, Memory::device_local);
        buffer.upload(words.data(), words.size() * 4);
        g.chunks.push_back({std::move(buffer), static_cast<uint32_t>(first), static_cast<uint32_t>(n)});
    }
    return g;
}

}  // namespace wkv
