// A tokenizer's vocabulary in one shape, whichever file it came from
// (sentencepiece .model, llama2.c tokenizer.bin, or GGUF tokenizer.ggml.*).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wkv {

// Same numbering as sentencepiece's ModelProto.SentencePiece.Type and GGUF's token_type.
enum class PieceType : int32_t { normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6 };

// How pieces are made from text (GGUF's tokenizer.ggml.model).
enum class TokenizerModel {
    sentencepiece,   // "llama": characters merged by score, bytes as <0xNN> pieces
    byte_level_bpe,  // "gpt2": text split by a pre-tokenizer, bytes mapped to characters, merged by rank
};

struct Vocabulary {
    TokenizerModel model = TokenizerModel::sentencepiece;
    // sentencepiece: each token's text with spaces as ' ' (never U+2581);
    // byte-level BPE: as the file has it, every byte written as one character (GPT-2's mapping).
    std::vector<std::string> pieces;
    std::vector<float> scores;  // sentencepiece merge priority: higher merges first
    std::vector<PieceType> types;
    std::vector<std::string> merges;  // byte-level BPE: "left right", first merged first
    std::string pre;                  // byte-level BPE: the pre-tokenizer (tokenizer.ggml.pre)
    int32_t bos_id = 1;
    int32_t eos_id = 2;
    int32_t unk_id = 0;    // -1: none
    bool add_bos = true;   // whether a prompt's encoding starts with BOS (tokenizer.ggml.add_bos_token)
    bool add_eos = false;  // whether it ends with EOS (tokenizer.ggml.add_eos_token)
    // sentencepiece: whether text starts with a space (its dummy prefix; tokenizer.ggml.add_space_prefix,
    // false in Gemma's files), and so whether decoding takes one away after BOS.
    bool add_space_prefix = true;
    // Every token that ends a reply: EOS, the end of a turn (<|eot_id|>, <|im_end|>, ...).
    std::vector<int32_t> end_of_generation;

    int32_t size() const { return static_cast<int32_t>(pieces.size()); }
};

// sentencepiece writes a space as U+2581 ("\u2581"); Vocabulary keeps plain spaces.
inline std::string with_plain_spaces(std::string_view piece) {
    std::string out;
    for (size_t i = 0; i < piece.size();) {
        if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
            out += ' ';
            i += 3;
        } else {
            out += piece[i++];
        }
    }
    return out;
}

}  // namespace wkv
