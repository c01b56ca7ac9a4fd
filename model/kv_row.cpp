#include "kv_row.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "quantize.hpp"
#include "tensor.hpp"

namespace wkv {

namespace {

constexpr uint32_t kBlock = 32;

uint32_t blocks(uint32_t head_dim) { return (head_dim + kBlock - 1) / kBlock; }
uint32_t scale_words(uint32_t head_dim) { return (blocks(head_dim) + 1) / 2; }
// Bytes of codes per block.
uint32_t code_bytes(KvType type) { return type == KvType::q8_0 ? kBlock : kBlock / 2; }

}  // namespace

const char* kv_type_name(KvType type) {
    switch (type) {
        case KvType::f32: return "f32";
        case KvType::f16: return "f16";
        case KvType::q8_0: return "q8_0";
        case KvType::q4_0: return "q4_0";
    }
    return "?";
}

bool parse_kv_type(const char* name, KvType& type) {
    for (KvType t : {KvType::f32, KvType::f16, KvType::q8_0, KvType::q4_0}) {
        if (std::string(name) == kv_type_name(t)) {
            type = t;
            return true;
        }
    }
    return false;
}

uint32_t kv_row_words(KvType type, uint32_t head_dim) {
    switch (type) {
        case KvType::f32: return head_dim;
        case KvType::f16: return head_dim / 2;
        default: return scale_words(head_dim) + blocks(head_dim) * code_bytes(type) / 4;
    }
}

void encode_kv_row(KvType type, const float* row, uint32_t head_dim, uint32_t* words) {
    if (type == KvType::f32) {
        std::memcpy(words, row, head_dim * 4);
        return;
    }
    if (type == KvType::f16) {
        for (uint32_t i = 0; i < head_dim / 2; i++)
            words[i] = f32_to_f16(row[2 * i]) | f32_to_f16(row[2 * i + 1]) << 16;
        return;
    }
    // llama.cpp's blocks from the zero-padded row, then rearranged: scales first.
    const uint32_t nb = blocks(head_dim), block_bytes = 2 + code_bytes(type);
    std::vector<float> padded(nb * kBlock, 0.0f);
    std::memcpy(padded.data(), row, head_dim * 4);
    std::vector<uint8_t> q(nb * block_bytes);
    (type == KvType::q8_0 ? quantize_q8_0 : quantize_q4_0)(padded.data(), nb, q.data());
    std::vector<uint8_t> out(kv_row_bytes(type, head_dim), 0);
    const uint32_t codes_at = 4 * scale_words(head_dim);
    for (uint32_t b = 0; b < nb; b++) {
        std::memcpy(&out[2 * b], &q[b * block_bytes], 2);
        std::memcpy(&out[codes_at + b * code_bytes(type)], &q[b * block_bytes + 2], code_bytes(type));
    }
    std::memcpy(words, out.data(), out.size());
}

void decode_kv_row(KvType type, const uint32_t* words, uint32_t head_dim, float* row) {
    if (type == KvType::f32) {
        std::memcpy(row, words, head_dim * 4);
        return;
    }
    if (type == KvType::f16) {
        for (uint32_t i = 0; i < head_dim / 2; i++) {
            row[2 * i] = f16_to_f32(static_cast<uint16_t>(words[i] & 0xffff));
            row[2 * i + 1] = f16_to_f32(static_cast<uint16_t>(words[i] >> 16));
        }
        return;
    }
    // Back into llama.cpp's blocks, for its dequantiser (model/dequantize.cpp).
    const uint32_t nb = blocks(head_dim), block_bytes = 2 + code_bytes(type);
    const auto* bytes = reinterpret_cast<const uint8_t*>(words);
    const uint32_t codes_at = 4 * scale_words(head_dim);
    std::vector<uint8_t> q(nb * block_bytes);
    for (uint32_t b = 0; b < nb; b++) {
        std::memcpy(&q[b * block_bytes], bytes + 2 * b, 2);
        std::memcpy(&q[b * block_bytes + 2], bytes + codes_at + b * code_bytes(type), code_bytes(type));
    }
    std::vector<float> padded(nb * kBlock);
    (type == KvType::q8_0 ? dequantize_q8_0 : dequantize_q4_0)(q.data(), nb, padded.data());
    std::memcpy(row, padded.data(), head_dim * 4);
}

void round_kv_row(KvType type, float* row, uint32_t head_dim) {
    if (type == KvType::f32) return;
    std::vector<uint32_t> words(kv_row_words(type, head_dim));
    encode_kv_row(type, row, head_dim, words.data());
    decode_kv_row(type, words.data(), head_dim, row);
}

}  // namespace wkv
