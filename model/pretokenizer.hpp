// The first step of a byte-level BPE tokenizer (tokenizer.ggml.pre): text cut
// into the pieces that are encoded one at a time, so no token crosses from a
// word into the space or digits beside it. Each kind of vocabulary cuts with
// the regular expressions its own tokenizer uses, over Unicode categories
// (letters \p{L}, numbers \p{N}, white space), matched by PCRE2.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wkv {

class PreTokenizer {
public:
    // The rules `name` (a tokenizer.ggml.pre value) stands for; an error lists the known names.
    explicit PreTokenizer(const std::string& name);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // The pieces of `text` (valid UTF-8), in order; together they are the whole text.
    // Each expression in turn cuts every piece so far into its matches and the
    // text between them.
    std::vector<std::string_view> split(std::string_view text) const;
    // A piece that is a whole token is taken as it is, unmerged (Llama 3's tokenizer).
    bool whole_words_first() const { return whole_words_first_; }

    static bool known(const std::string& name);
    static std::string known_names();  // "gpt-2, llama-bpe, ..."

private:
    struct Regex;
    std::vector<std::unique_ptr<Regex>> regexes_;
    bool whole_words_first_ = false;
};

}  // namespace wkv
