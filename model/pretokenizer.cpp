#include "pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "error.hpp"

namespace wkv {

namespace {

// The splitting rules of each family, as llama.cpp applies them (its
// llm_tokenizer_bpe): Hugging Face's expressions, with the case-insensitive
// contractions of Llama 3 and Qwen2 spelled out.
const char* const kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kContractions = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";
const char* const kWordsAndSpace =
    R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Rules {
    const char* names[3];                  // tokenizer.ggml.pre values
    std::vector<std::string> expressions;  // applied in order
    bool whole_words_first;
};

std::string llama3() { return std::string(kContractions) + kWordsAndSpace; }
// GPT-4o's (o200k: Phi-4-mini): a word splits where its case turns, lower to upper
// ("helloWorld": "hello", "World"), its contraction kept; "upper" and "lower" are
// llama.cpp's approximation of Hugging Face's classes: a letter outside a-z, outside A-Z.
std::string gpt4o() {
    const std::string upper = R"(((?=[\p{L}])([^a-z])))", lower = R"(((?=[\p{L}])([^A-Z])))";
    const std::string contraction = std::string(kContractions) + "?";
    return R"([^\r\n\p{L}\p{N}]?)" + upper + "*" + lower + "+" + contraction + R"(|[^\r\n\p{L}\p{N}]?)" + upper + "+" +
           lower + "*" + contraction + R"(|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}
// Qwen2 takes digits one at a time where Llama 3 takes up to three.
std::string qwen2() {
    std::string e = llama3();
    e.replace(e.find(R"(\p{N}{1,3})"), 10, R"(\p{N})");
    return e;
}

const std::vector<Rules>& rules() {
    static const std::vector<Rules> table = {
        {{"llama-bpe", "llama3", "llama-v3"}, {llama3()}, true},
        {{"qwen2", "deepseek-r1-qwen", nullptr}, {qwen2()}, false},
        {{"smollm", "refact", nullptr}, {R"(\p{N})", kGpt2}, false},  // digits alone first (StarCoder's too)
        {{"gpt-4o", nullptr, nullptr}, {gpt4o()}, false},
        {{"gpt-2", nullptr, nullptr}, {kGpt2}, false},
    };
    return table;
}

const Rules* find_rules(const std::string& name) {
    for (const Rules& r : rules()) {
        for (const char* n : r.names) {
            if (n && name == n) return &r;
        }
    }
    return nullptr;
}

}  // namespace

struct PreTokenizer::Regex {
    pcre2_code* code = nullptr;
    ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(const std::string& name) {
    const Rules* r = find_rules(name);
    if (!r) {
        throw Error("tokenizer.ggml.pre is " + quoted(name) + ", which wkv does not know (it knows " + known_names() +
                    ")");
    }
    whole_words_first_ = r->whole_words_first;
    for (const std::string& e : r->expressions) {
        int error = 0;
        PCRE2_SIZE at = 0;
        auto regex = std::make_unique<Regex>();
        regex->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(e.c_str()), e.size(), PCRE2_UTF | PCRE2_UCP, &error,
                                    &at, nullptr);
        if (!regex->code) throw std::logic_error("pre-tokenizer expression does not compile: " + e);
        pcre2_jit_compile(regex->code, PCRE2_JIT_COMPLETE);  // where there is no JIT, matching is interpreted
        regexes_.push_back(std::move(regex));
    }
}

PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
    std::vector<std::string_view> pieces;
    if (!text.empty()) pieces.push_back(text);
    for (const auto& regex : regexes_) {
        pcre2_match_data* match = pcre2_match_data_create_from_pattern(regex->code, nullptr);
        std::vector<std::string_view> cut;
        for (std::string_view piece : pieces) {
            const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
            size_t from = 0, done = 0;  // next search; end of the last match
            while (from < piece.size()) {
                const int rc =
                    pcre2_match(regex->code, subject, piece.size(), from, PCRE2_NO_UTF_CHECK, match, nullptr);
                if (rc < 0) break;  // no more matches (or a match limit: the rest stays one piece)
                const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match);
                if (span[1] == span[0]) {  // an empty match cuts nothing: step over one character
                    from = span[0] + 1;
                    while (from < piece.size() && (static_cast<unsigned char>(piece[from]) & 0xC0) == 0x80) from++;
                    continue;
                }
                if (span[0] > done) cut.push_back(piece.substr(done, span[0] - done));
                cut.push_back(piece.substr(span[0], span[1] - span[0]));
                done = from = span[1];
            }
            if (done < piece.size()) cut.push_back(piece.substr(done));
        }
        pcre2_match_data_free(match);
        pieces = std::move(cut);
    }
    return pieces;
}

bool PreTokenizer::known(const std::string& name) { return find_rules(name) != nullptr; }

std::string PreTokenizer::known_names() {
    std::string out;
    for (const Rules& r : rules()) {
        for (const char* n : r.names) {
            if (n) out += (out.empty() ? "" : ", ") + std::string(n);
        }
    }
    return out;
}

}  // namespace wkv
