// How one KV head's key or value row (head_dim values) is stored: the device's
// 32-bit words, which the host reads and writes, and the CPU reference rounds
// through, so all three agree bit for bit (shaders/kv_cache.glsl decodes them).
//
//   f32   head_dim words, one float each
//   f16   head_dim / 2 words, a pair of halves each (low half first, as packHalf2x16)
//   q8_0  llama.cpp's blocks of 32 values: an f16 scale and 32 int8 codes;
//   q4_0  the same with 16 bytes of 4-bit codes (value j low nibble, j + 16 high)
//
// A quantised row is whole blocks: a head_dim that is not a multiple of 32 is
// padded with zeros. Its scales come first, two halves a word (block 2m low),
// then each block's codes, so that every read a shader makes is one aligned
// word: with an even number of blocks a row is exactly llama.cpp's 34 (18)
// bytes a block, with an odd number two bytes more.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wkv {

enum class KvType { f32, f16, q8_0, q4_0 };  // the order of shaders/kv_cache.glsl's KV_* numbers
inline constexpr size_t kKvTypeCount = 4;

const char* kv_type_name(KvType type);  // "f32", "f16", "q8_0", "q4_0"
// The type of that name, or false.
bool parse_kv_type(const char* name, KvType& type);

// Words of one stored row.
uint32_t kv_row_words(KvType type, uint32_t head_dim);
inline uint64_t kv_row_bytes(KvType type, uint32_t head_dim) { return uint64_t{4} * kv_row_words(type, head_dim); }

// `head_dim` values into kv_row_words() words, as the device's kv_encode_word does.
void encode_kv_row(KvType type, const float* row, uint32_t head_dim, uint32_t* words);
// The values a stored row holds.
void decode_kv_row(KvType type, const uint32_t* words, uint32_t head_dim, float* row);
// `row` replaced by what storing it keeps (decode(encode(row))).
void round_kv_row(KvType type, float* row, uint32_t head_dim);

}  // namespace wkv
