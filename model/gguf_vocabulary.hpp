// The vocabulary a GGUF file embeds (tokenizer.ggml.*): a sentencepiece one
// ("llama") or a byte-level BPE one ("gpt2"), every count and id checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gguf.hpp"
#include "vocabulary.hpp"

namespace wkv {

// Nothing when the file embeds no vocabulary. `rows`: the embedding's rows,
// which the token list must match (none for a file that is only a vocabulary).
std::optional<Vocabulary> read_gguf_vocabulary(const GgufFile& g, const std::string& path,
                                               std::optional<uint32_t> rows);

// A GGUF file read for its vocabulary alone: any architecture, with or without tensors.
Vocabulary load_gguf_vocabulary(const std::string& path);

}  // namespace wkv
