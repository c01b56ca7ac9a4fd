// Text <-> token ids. Four sources, one interface:
//   - a sentencepiece .model file, encoded by libsentencepiece itself;
//   - a llama2.c tokenizer.bin (pieces + merge scores), and
//   - a sentencepiece vocabulary embedded in a GGUF file (tokenizer.ggml.model
//     "llama"), the last two encoded by score-ordered BPE the way llama2.c and
//     sentencepiece's BPE do it: split into UTF-8 characters (bytes as <0xNN>
//     pieces when a character is not in the vocabulary), then repeatedly merge
//     the adjacent pair whose merged piece has the highest score, leftmost first;
//   - a byte-level BPE vocabulary embedded in a GGUF file ("gpt2": Llama 3,
//     Qwen2, SmolLM2), encoded by model/byte_level_bpe.
// In text, a user-defined token's text stands for that token (as llama.cpp
// reads text without special tokens); control tokens' text is plain text.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "byte_level_bpe.hpp"
#include "vocabulary.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace wkv {

class Tokenizer {
public:
    // A path ending in ".model" is read as sentencepiece, anything else as llama2.c tokenizer.bin.
    static Tokenizer load(const std::string& path);
    static Tokenizer from_vocabulary(Vocabulary vocabulary);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // BOS (when asked) then the pieces of `text`; a leading space is added to
    // non-empty text, as sentencepiece's dummy prefix does, unless `dummy_prefix`
    // is false (text that continues a sequence, e.g. after a chat template's
    // special token; a sentencepiece .model always adds it).
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool dummy_prefix = true) const;
    // `text` as sentencepiece sees it before encoding: every byte that is not
    // part of valid UTF-8 becomes U+FFFD, and U+2581 (sentencepiece's own mark
    // for a space) becomes a space. decode(encode(text)) gives this back.
    static std::string normalize(std::string_view text);
    // The id of the token whose piece is exactly `piece` (any type), if there is one.
    std::optional<int32_t> find_piece(std::string_view piece) const;
    // A prompt as the model's tokenizer settings ask: BOS and EOS where the
    // vocabulary says to add them (GGUF's add_bos_token, add_eos_token).
    std::vector<int32_t> encode_prompt(std::string_view text) const;
    bool adds_bos() const { return vocab_.add_bos; }

    // The bytes token `id` contributes to the text when it follows `prev`:
    // control tokens give nothing, byte tokens their byte, and the first piece
    // after BOS loses its leading space (the dummy prefix), a byte piece too.
    std::string decode_piece(int32_t prev, int32_t id) const;
    std::string decode(const std::vector<int32_t>& ids) const;  // as if after BOS

    const Vocabulary& vocabulary() const { return vocab_; }
    int32_t vocab_size() const { return vocab_.size(); }
    int32_t bos_id() const { return vocab_.bos_id; }
    int32_t eos_id() const { return vocab_.eos_id; }
    // Every token that ends a reply: EOS and the vocabulary's ends of turn (<|eot_id|>, <|im_end|>, ...).
    const std::vector<int32_t>& end_of_generation() const { return vocab_.end_of_generation; }
    const std::string& source() const { return source_; }

private:
    Tokenizer() = default;
    void index_pieces();
    std::vector<int32_t> encode_bpe(std::string_view text, bool dummy_prefix) const;
    // Text without user-defined tokens in it, by the vocabulary's own method.
    void encode_plain(std::string_view text, bool dummy_prefix, std::vector<int32_t>& ids) const;

    Vocabulary vocab_;
    std::string source_;
    std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;  // only for .model files
    std::unordered_map<std::string, int32_t> piece_ids_;         // pieces BPE may produce
    std::array<int32_t, 256> byte_ids_{};                        // <0xNN> pieces, or unk
    std::unique_ptr<ByteLevelBpe> byte_level_;                   // only for byte-level BPE vocabularies
    // User-defined tokens by their text's first byte, the longest first.
    std::array<std::vector<std::pair<std::string, int32_t>>, 256> user_defined_;
};

struct Model;
// The tokenizer at `tokenizer_path`, else the one embedded in a GGUF model;
// checked against the model's vocabulary size.
Tokenizer tokenizer_for(const Model& model, const std::string& tokenizer_path);

}  // namespace wkv
