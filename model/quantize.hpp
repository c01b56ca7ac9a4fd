// The two block types a KV cache row can be stored in besides f16 (issue 35:
// q8_0 and q4_0, llama.cpp's cache types), quantised as llama.cpp's reference
// quantisers round: a row quantised here dequantises (model/dequantize.cpp) to
// what llama.cpp's would, bit for bit. The GGUF writer uses them too.
#pragma once

#include <cstdint>

namespace wkv {

// n_blocks x 32 values into n_blocks blocks of 34 bytes: an f16 scale d = max|x| / 127,
// then 32 int8 values round(x / d), halves away from zero.
void quantize_q8_0(const float* x, uint64_t n_blocks, uint8_t* out);

// n_blocks x 32 values into n_blocks blocks of 18 bytes: an f16 scale d = -m / 8, m the
// value of largest magnitude (the first, on ties), then 4-bit codes of x / d + 8,
// truncated from x / d + 8.5 and at most 15: value j in the low nibble of byte j,
// value j + 16 in its high nibble.
void quantize_q4_0(const float* x, uint64_t n_blocks, uint8_t* out);

}  // namespace wkv
