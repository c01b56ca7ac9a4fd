// A Llama model whose weights are set by hand so that it provably retrieves:
// given "... key is 53149 ..." earlier in its context and "key is" now, it
// continues with 53149, from any distance its cache still holds the needle at.
// No training: two attention layers and zero FFNs, so that wkv needle on it
// measures exactly what each cache policy kept.
//
// The residual stream is split into coordinate blocks of kCodeDims each:
//   token     the token's code (a seeded random unit vector per vocabulary entry)
//   previous  the previous token's code   (written by layer 0, head 0)
//   before    the code of the token before that (layer 0, head 1)
//   answer    the code of the token to say (layer 1)
// plus one coordinate every embedding sets to 1, which the positional heads read.
//
// Layer 0's two heads attend by position alone: their queries and keys are that
// constant coordinate, in head dimensions whose RoPE frequencies (rope_freqs.weight)
// are chosen so that the score peaks at distance 1 (head 0) and 2 (head 1). Each
// copies the code of the token it attends to into its block.
// Layer 1's head 0 is an induction head over a pair of tokens: its query is
// (token, previous) and its key (previous, before), in head dimensions that RoPE
// leaves unrotated (frequency factors of 1e30), so the score is high where the two
// tokens before an earlier position equal the current token and the one before it,
// whatever the distance. It copies that position's token code into the answer
// block, and the classifier reads only that block.
//
// The vocabulary (SentencePiece kind, "llama") has a piece for every word of the
// default needle texts (model/needle_text.hpp) and for each digit, and byte pieces for
// anything else.
#pragma once

#include <cstdint>
#include <vector>

namespace wkv {

inline constexpr uint32_t kRetrievalContext = 2048;

// The GGUF file; `ggml_type` f32 or f16 for the matrices.
std::vector<uint8_t> retrieval_llama_gguf(uint32_t ggml_type);

}  // namespace wkv
