#include "gguf_vocabulary.hpp"

#include <algorithm>

#include "error.hpp"
#include "mapped_file.hpp"
#include "pretokenizer.hpp"

namespace wkv {

namespace {

// Tokens llama.cpp makes control tokens by their text, whatever type the file gives them (its
// vocabulary loader's "control-looking token" rule): in user text such a token's text is plain
// text, and most of them end a reply. A fill-in-the-middle marker or DeepSeek's end of sentence
// is found by its text only when the file names no id for its role (`unless_named`). The list is
// that of llama.cpp at the commit node-llama-cpp 3.22.1 bundles, each entry checked against it
// (DeepSeek's markers are written with their own characters, U+FF5C and U+2581, in UTF-8).
struct ControlLooking {
    const char* text;
    bool ends_generation;
    const char* unless_named = nullptr;
};
constexpr ControlLooking kControlLooking[] = {
    {"<|eot_id|>", true},
    {"<|eom_id|>", true},
    {"<|im_end|>", true},
    {"<|end|>", true},
    {"<|return|>", true},
    {"<|call|>", true},
    {"<|flush|>", true},
    {"<|calls|>", true},
    {"<end_of_turn>", true},
    {"<|endoftext|>", true},
    {"</s>", true},
    {"<EOT>", true},
    {"_<EOT>", true},
    {"[EOT]", true},
    {"[EOS]", true},
    {"<|end_of_text|>", true},
    {"<end_of_utterance>", true},
    {"<eos>", true},
    {"<turn|>", true},
    {"<|tool_response>", true},
    {"<｜end▁of▁sentence｜>", true, "tokenizer.ggml.eot_token_id"},
    {"<|fim_prefix|>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<fim-prefix>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<PRE>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<｜fim▁begin｜>", false, "tokenizer.ggml.fim_pre_token_id"},
    {"<|fim_suffix|>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<fim-suffix>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<SUF>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<｜fim▁hole｜>", false, "tokenizer.ggml.fim_suf_token_id"},
    {"<|fim_middle|>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<fim-middle>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<MID>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<｜fim▁end｜>", false, "tokenizer.ggml.fim_mid_token_id"},
    {"<|fim_pad|>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<fim-pad>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<PAD>", true, "tokenizer.ggml.fim_pad_token_id"},
    {"<|fim_repo|>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<|repo_name|>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<fim-repo>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<REPO>", true, "tokenizer.ggml.fim_rep_token_id"},
    {"<|file_sep|>", true, "tokenizer.ggml.fim_sep_token_id"},
};

std::vector<float> numbers_of(const GgufFile& g, const std::string& path, const char* key, size_t n) {
    const GgufValue* v = g.find(key);
    if (!v) return {};
    if (v->type != GgufValueType::array || v->numbers.size() != n) {
        fail(path, std::string(key) + " is not an array of " + std::to_string(n) + " numbers");
    }
    return std::vector<float>(v->numbers.begin(), v->numbers.end());
}

}  // namespace

std::optional<Vocabulary> read_gguf_vocabulary(const GgufFile& g, const std::string& path,
                                               std::optional<uint32_t> rows) {
    const GgufMetadata meta(g, path);
    const std::vector<std::string>* tokens = meta.strings("tokenizer.ggml.tokens");
    if (!tokens) return std::nullopt;
    const std::string model = meta.text("tokenizer.ggml.model").value_or("");
    Vocabulary v;
    if (model == "llama") {
        v.model = TokenizerModel::sentencepiece;
    } else if (model == "gpt2") {
        v.model = TokenizerModel::byte_level_bpe;
    } else {
        fail(
            path,
            "embeds a " + quoted(model) +
                " tokenizer, which wkv does not support (it reads 'llama', sentencepiece, and 'gpt2', byte-level BPE)");
    }
    const size_t n = tokens->size();
    if (rows && n != *rows) {
        fail(path, "tokenizer.ggml.tokens has " + std::to_string(n) + " entries but the embedding has " +
                       std::to_string(*rows) + " rows");
    }
    if (n == 0 || n > (size_t{1} << 31)) fail(path, "tokenizer.ggml.tokens has " + std::to_string(n) + " entries");
    for (const std::string& piece : *tokens) {
        v.pieces.push_back(v.model == TokenizerModel::sentencepiece ? with_plain_spaces(piece) : piece);
    }
    v.scores = numbers_of(g, path, "tokenizer.ggml.scores", n);
    if (v.scores.empty()) v.scores.assign(n, 0.0f);
    const std::vector<float> types = numbers_of(g, path, "tokenizer.ggml.token_type", n);
    v.types.assign(n, PieceType::normal);
    for (size_t i = 0; i < types.size(); i++) {
        if (!(types[i] >= 1 && types[i] <= 6))
            fail(path, "tokenizer.ggml.token_type[" + std::to_string(i) + "] is not 1..6");
        v.types[i] = static_cast<PieceType>(static_cast<int32_t>(types[i]));
    }
    if (v.model == TokenizerModel::byte_level_bpe) {
        const std::vector<std::string>* merges = meta.strings("tokenizer.ggml.merges");
        if (!merges) fail(path, "a 'gpt2' tokenizer needs tokenizer.ggml.merges, which is missing");
        for (const std::string& m : *merges) {
            const size_t space = m.find(' ', 1);
            if (space == std::string::npos || space + 1 == m.size())
                fail(path, "tokenizer.ggml.merges has " + quoted(m) + ", not 'left right'");
        }
        v.merges = *merges;
        v.pre = meta.text("tokenizer.ggml.pre").value_or("");
        if (!PreTokenizer::known(v.pre)) {
            fail(path, "tokenizer.ggml.pre is " + quoted(v.pre) + ", which wkv does not know (it knows " +
                           PreTokenizer::known_names() + ")");
        }
    }
    const bool sentencepiece = v.model == TokenizerModel::sentencepiece;
    auto token_id = [&](const char* key, int32_t fallback) -> int32_t {
        const std::optional<uint32_t> id = meta.u32(key);
        if (!id) return fallback;
        if (*id >= n) fail(path, std::string(key) + " = " + std::to_string(*id) + " is not a token id");
        return static_cast<int32_t>(*id);
    };
    // sentencepiece's fixed ids are the defaults of its files; a byte-level file names its own.
    v.bos_id = token_id("tokenizer.ggml.bos_token_id", sentencepiece ? 1 : -1);
    v.eos_id = token_id("tokenizer.ggml.eos_token_id", sentencepiece ? 2 : -1);
    v.unk_id = token_id("tokenizer.ggml.unknown_token_id", sentencepiece ? 0 : -1);
    // Llama 3's tokenizer starts a text with BOS without saying so; other byte-level ones do not.
    const bool llama3 = v.pre == "llama-bpe" || v.pre == "llama3" || v.pre == "llama-v3";
    v.add_bos = meta.boolean("tokenizer.ggml.add_bos_token").value_or(sentencepiece || llama3);
    v.add_eos = meta.boolean("tokenizer.ggml.add_eos_token").value_or(false);
    v.add_space_prefix = meta.boolean("tokenizer.ggml.add_space_prefix").value_or(true);
    if (v.add_bos && v.bos_id < 0)
        fail(path, "the vocabulary adds a BOS token but names none (tokenizer.ggml.bos_token_id)");
    if (v.add_eos && v.eos_id < 0)
        fail(path, "the vocabulary adds an EOS token but names none (tokenizer.ggml.eos_token_id)");

    auto stop = [&](int32_t id) {
        if (id >= 0 &&
            std::find(v.end_of_generation.begin(), v.end_of_generation.end(), id) == v.end_of_generation.end()) {
            v.end_of_generation.push_back(id);
        }
    };
    stop(v.eos_id);
    stop(token_id("tokenizer.ggml.eot_token_id", -1));
    stop(token_id("tokenizer.ggml.eom_token_id", -1));
    for (const char* key :
         {"tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"}) {
        stop(token_id(key, -1));  // as llama.cpp: a fill-in-the-middle run ends at these too
    }
    for (size_t i = 0; i < n; i++) {
        for (const ControlLooking& c : kControlLooking) {
            if ((*tokens)[i] != c.text || (c.unless_named && meta.u32(c.unless_named))) continue;
            v.types[i] = PieceType::control;
            if (c.ends_generation) stop(static_cast<int32_t>(i));
        }
    }
    return v;
}

Vocabulary load_gguf_vocabulary(const std::string& path) {
    const MappedFile file(path);
    if (!is_gguf(file))
        fail(path, "not a GGUF file (a vocabulary is read from a GGUF model or a vocabulary-only GGUF)");
    const GgufFile g = parse_gguf(file);
    std::optional<Vocabulary> v = read_gguf_vocabulary(g, path, std::nullopt);
    if (!v) fail(path, "embeds no vocabulary (tokenizer.ggml.tokens is missing)");
    return std::move(*v);
}

}  // namespace wkv
