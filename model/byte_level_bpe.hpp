// Byte-level BPE (GGUF's tokenizer.ggml.model = "gpt2": Llama 3, Qwen2,
// SmolLM2, GPT-2). Every byte is first written as one printable character
// (GPT-2's mapping: printable ASCII and Latin-1 stand for themselves, the
// other bytes for characters from U+0100 on), so a vocabulary of such
// strings covers any byte sequence. A pre-tokenizer cuts the text into
// pieces; within each, adjacent symbols are merged by the vocabulary's merge
// list, the earliest merge first, until none applies.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "pretokenizer.hpp"
#include "vocabulary.hpp"

namespace wkv {

class ByteLevelBpe {
public:
    explicit ByteLevelBpe(const Vocabulary& vocabulary);

    // The ids of plain text (valid UTF-8; no special tokens in it). `piece_ids`:
    // the vocabulary's text of every token, mapped to its id.
    using PieceIds = std::unordered_map<std::string, int32_t>;
    void encode(std::string_view text, const PieceIds& piece_ids, std::vector<int32_t>& out) const;
    // The bytes a token's piece stands for.
    static std::string piece_bytes(std::string_view piece);

private:
    void encode_word(const std::string& word, const PieceIds& piece_ids, std::vector<int32_t>& out) const;

    std::unordered_map<std::string, int32_t> merge_rank_;  // "left right" -> its place in the merge list
    std::shared_ptr<const PreTokenizer> pre_;
};

}  // namespace wkv
