#include "gpu_tensor.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "error.hpp"

namespace wkv {

TensorType device_type(TensorType file_type) {
    return file_type == TensorType::q8_grouped ? TensorType::f32 : file_type;
}

namespace {

uint64_t words_per_block(const WeightType& w) { return (w.block_bytes + 3) / 4; }

}  // namespace

uint64_t device_bytes(TensorType type, uint64_t rows, uint64_t cols) {
    const WeightType& w = weight_type(type);
    if (w.block_values == 1) return (rows * cols * w.block_bytes + 3) / 4 * 4;
    return rows * cols / w.block_values * words_per_block(w) * 4;
}

uint64_t rows_per_chunk(TensorType type, uint64_t cols, uint64_t rows, uint64_t limit) {
    // Each chunk is repacked from its own first value, so any row count fits the layouts:
    // the most rows whose bytes stay within the limit.
    uint64_t n = std::min<uint64_t>(limit / device_bytes(type, 1, cols), rows);
    while (n > 0 && device_bytes(type, n, cols) > limit) n--;
    return n;
}

uint64_t GpuTensor::bytes() const {
    uint64_t total = 0;
    for (const GpuTensorChunk& c : chunks) total += device_bytes(type, c.rows, cols);
    return total;
}

std::vector<uint32_t> device_words(const TensorView& t, uint64_t first_row, uint64_t n_rows) {
    const TensorType type = device_type(t.type);
    std::vector<uint32_t> words(device_bytes(type, n_rows, t.cols) / 4);
    if (t.type == TensorType::q8_grouped) {
        std::vector<float> row(t.cols);
        for (uint64_t r = 0; r < n_rows; r++) {
            dequantize_row(t, first_row + r, row.data());
            std::memcpy(&words[r * t.cols], row.data(), t.cols * 4);
        }
        return words;
    }
    const WeightType& w = weight_type(type);
    const uint64_t blocks = n_rows * t.cols / w.block_values;
    const uint8_t* src = t.data + first_row * (t.cols / w.block_values) * w.block_bytes;
    if (w.block_values == 1) {
        std::memcpy(words.data(), src, blocks * w.block_bytes);
        return words;
    }
    // Each block: its bytes before pad_at, the padding, then the rest.
    auto* dst = reinterpret_cast<uint8_t*>(words.data());
    const uint64_t padded = words_per_block(w) * 4, head = w.pad_at, pad = padded - w.block_bytes;
    for (uint64_t b = 0; b < blocks; b++, src += w.block_bytes, dst += padded) {
        std::memcpy(dst, src, head);
        std::memcpy(dst + head + pad, src + head, w.block_bytes - head);
    }
    return words;
}

bool stackable(std::span<const TensorView* const> parts) {
    for (const TensorView* t : parts) {
        if (device_type(t->type) != device_type(parts[0]->type) || t->cols != parts[0]->cols) return false;
    }
    return true;
}

GpuTensor upload_tensor(Context& ctx, const TensorView& t, uint64_t max_chunk_bytes) {
    const TensorView* parts[] = {&t};
    return stack_tensors(ctx, t.name, parts, max_chunk_bytes);
}

GpuTensor stack_tensors(Context& ctx, const std::string& name, std::span<const TensorView* const> parts,
                        uint64_t max_chunk_bytes) {
    if (!stackable(parts)) throw std::logic_error("stack_tensors: " + name + " has parts of different types or widths");
    GpuTensor g;
    g.name = name;
    g.type = device_type(parts[0]->type);
    g.cols = static_cast<uint32_t>(parts[0]->cols);
    uint64_t total_rows = 0;
    for (const TensorView* t : parts) total_rows += t->rows;
    g.rows = static_cast<uint32_t>(total_rows);
    const uint64_t limit = max_chunk_bytes ? max_chunk_bytes : ctx.info().max_buffer_bytes();
    const uint64_t per_chunk = rows_per_chunk(g.type, g.cols, total_rows, limit);
    if (per_chunk == 0) {
        throw Error("tensor " + quoted(name) + ": one row (" + std::to_string(device_bytes(g.type, 1, g.cols)) +
                        " bytes) exceeds the device's buffer limit of " + std::to_string(limit) + " bytes",
                    ExitCode::device);
    }
    for (uint64_t first = 0; first < total_rows; first += per_chunk) {
        const uint64_t n = std::min(per_chunk, total_rows - first);
        // The chunk's rows from each part they fall in; the device layout is row after row.
        std::vector<uint32_t> words;
        uint64_t part_first = 0;
        for (const TensorView* t : parts) {
            const uint64_t from = std::max(first, part_first), to = std::min(first + n, part_first + t->rows);
            if (from < to) {
                const std::vector<uint32_t> rows = device_words(*t, from - part_first, to - from);
                words.insert(words.end(), rows.begin(), rows.end());
            }
            part_first += t->rows;
        }
        Buffer buffer(ctx, words.size() * 4, Memory::device_local);
        buffer.upload(words.data(), words.size() * 4);
        g.chunks.push_back({std::move(buffer), static_cast<uint32_t>(first), static_cast<uint32_t>(n)});
    }
    return g;
}

}  // namespace wkv
