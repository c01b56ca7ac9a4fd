// Writes a GGUF file with seeded random weights in the shape of a real model,
// so speed can be measured at real sizes without downloading one: wkv and
// llama.cpp both load it (bench/real_shapes.sh). The vocabulary is the real
// model's kind: Llama 2's from its sentencepiece model, or a vocabulary-only
// GGUF (Llama 3's, Qwen2's from ../shared/models/vocab), padded with [PAD...]
// tokens to the model's rows as the converters do, so llama.cpp accepts the
// file as it would the real one. Block types get random blocks with moderate
// scales (model/random_model.hpp): the text is noise, the work is the real work.
// A matrix whose rows are not whole blocks of the type (Qwen2.5-0.5B's 896
// columns in q4_K) is written in q8_0, as llama.cpp's quantiser falls back.
//
// Usage: wkv_synthetic_gguf SHAPE TYPE TOKENIZER.model|VOCAB.gguf OUT.gguf
//   SHAPE: tinyllama-1.1b | llama-2-7b | codellama-7b | llama-3.2-1b | qwen2.5-0.5b | qwen3-0.6b |
//          gemma-3-1b | phi-4-mini
//   TYPE: f16, q8_0, q4_0, q4_K, ...
// or:    wkv_synthetic_gguf retrieval f32|f16 - OUT.gguf
//   the constructed retrieval model of model/retrieval_model.hpp, with its own vocabulary
// or:    wkv_synthetic_gguf split IN.gguf N PREFIX
//   IN.gguf in N parts PREFIX-00001-of-0000N.gguf ..., as llama.cpp's gguf-split writes them
#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "config.hpp"
#include "error.hpp"
#include "gguf_split.hpp"
#include "gguf_vocabulary.hpp"
#include "gguf_writer.hpp"
#include "random_model.hpp"
#include "retrieval_model.hpp"
#include "tensor.hpp"

using namespace wkv;

namespace {

struct Shape {
    const char* arch;  // general.architecture
    uint32_t dim, hidden, layers, heads, kv_heads, context;
    float rope_theta;
    uint32_t vocab = 0;       // rows of the embedding; 0: the tokenizer's size
    uint32_t head_dim = 0;    // 0: dim / heads
    bool tied = false;        // no output.weight: the classifier is the embedding
    bool rope_freqs = false;  // Llama 3.1's frequency factors
    uint32_t rope_dims = 0;   // rotated dimensions of a head (Phi-4-mini's 3/4); 0: all
    uint32_t window = 0;      // Gemma 3's sliding window (every sixth layer global)
};

const std::map<std::string, Shape> kShapes = {
    {"tinyllama-1.1b", {"llama", 2048, 5632, 22, 32, 4, 2048, 10000.0f}},
    {"llama-2-7b", {"llama", 4096, 11008, 32, 32, 32, 4096, 10000.0f}},
    {"codellama-7b", {"llama", 4096, 11008, 32, 32, 32, 16384, 1000000.0f}},
    {"llama-3.2-1b", {"llama", 2048, 8192, 16, 32, 8, 131072, 500000.0f, 128256, 0, true, true}},
    {"qwen2.5-0.5b", {"qwen2", 896, 4864, 24, 14, 2, 32768, 1000000.0f, 151936, 0, true}},
    {"qwen3-0.6b", {"qwen3", 1024, 3072, 28, 16, 8, 40960, 1000000.0f, 151936, 128, true}},
    {"gemma-3-1b", {"gemma3", 1152, 6912, 26, 4, 1, 32768, 1000000.0f, 262144, 256, true, false, 0, 512}},
    {"phi-4-mini", {"phi3", 3072, 8192, 32, 24, 8, 131072, 10000.0f, 200064, 0, true, false, 96}},
};

int usage(const char* why) {
    std::fprintf(
        stderr,
        "wkv_synthetic_gguf: %s\nusage: wkv_synthetic_gguf SHAPE TYPE TOKENIZER.model|VOCAB.gguf OUT.gguf\n  SHAPE: ",
        why);
    for (const auto& [name, shape] : kShapes) std::fprintf(stderr, "%s ", name.c_str());
    std::fprintf(stderr, "retrieval (f32 or f16; TOKENIZER is -)\n  or: wkv_synthetic_gguf split IN.gguf N PREFIX");
    std::fprintf(stderr, "\n  TYPE: %s\n", weight_type_list().c_str());
    return 2;
}

// Writes `path` whole (a temporary file, renamed).
bool write_file(const std::vector<uint8_t>& bytes, const std::string& path) {
    const std::string tmp = path + ".tmp";
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        std::fprintf(stderr, "wkv_synthetic_gguf: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

int write_gguf(const std::vector<uint8_t>& bytes, char** argv) {
    if (!write_file(bytes, argv[4])) return 1;
    std::printf("%s: %s %s, %.2f GiB\n", argv[4], argv[1], argv[2], static_cast<double>(bytes.size()) / 1073741824.0);
    return 0;
}

int split(const std::string& in, const std::string& count_text, const std::string& prefix) {
    char* end = nullptr;
    const unsigned long count = std::strtoul(count_text.c_str(), &end, 10);
    if (count_text.empty() || *end || count < 2 || count > 65535)
        return usage("N is not a number of parts in 2..65535");
    try {
        const std::vector<std::vector<uint8_t>> parts = GgufWriter::split(MappedFile(in), static_cast<uint32_t>(count));
        for (uint32_t p = 0; p < parts.size(); p++) {
            const std::string path = split_part_path(prefix, p + 1, static_cast<uint32_t>(count));
            if (!write_file(parts[p], path)) return 1;
            std::printf("%s\n", path.c_str());
        }
    } catch (const Error& e) {
        std::fprintf(stderr, "wkv_synthetic_gguf: %s\n", e.what());
        return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) return usage("expected four arguments");
    if (std::string(argv[1]) == "split") return split(argv[2], argv[3], argv[4]);
    if (std::string(argv[1]) == "retrieval") {  // the constructed model has a vocabulary of its own
        const std::string t = argv[2];
        if (t != "f32" && t != "f16") return usage("the retrieval model is f32 or f16");
        return write_gguf(retrieval_llama_gguf(t == "f32" ? kGgmlF32 : kGgmlF16), argv);
    }
    const auto shape = kShapes.find(argv[1]);
    if (shape == kShapes.end()) return usage("unknown shape");
    const WeightType* type = nullptr;
    for (const WeightType& w : weight_types()) {
        if (w.name == std::string(argv[2])) type = &w;
    }
    if (!type) return usage("unknown weight type");
    const Shape& s = shape->second;
    const std::string arch = s.arch, key = arch + ".";
    const uint32_t head_dim = s.head_dim ? s.head_dim : s.dim / s.heads;

    // The vocabulary, in llama.cpp's terms.
    std::vector<std::string> pieces, merges;
    std::vector<float> scores;
    std::vector<int32_t>
        kinds;  // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    std::string tokenizer_model, pre;
    int32_t bos = -1, eos = -1, unk = -1;
    bool add_bos = true;
    const std::string tokenizer_path = argv[3];
    if (tokenizer_path.size() > 5 && tokenizer_path.substr(tokenizer_path.size() - 5) == ".gguf") {
        Vocabulary v;
        try {
            v = load_gguf_vocabulary(tokenizer_path);
        } catch (const Error& e) {
            return usage(e.what());
        }
        tokenizer_model = v.model == TokenizerModel::byte_level_bpe ? "gpt2" : "llama";
        pieces = v.pieces;
        if (v.model == TokenizerModel::sentencepiece) {  // back to sentencepiece's mark for a space
            for (std::string& piece : pieces) {
                for (size_t at; (at = piece.find(' ')) != std::string::npos;) piece.replace(at, 1, "\xE2\x96\x81");
            }
        }
        scores = v.scores;
        for (PieceType t : v.types) kinds.push_back(static_cast<int32_t>(t));
        merges = v.merges;
        pre = v.pre;
        bos = v.bos_id, eos = v.eos_id, unk = v.unk_id;
        add_bos = v.add_bos;
    } else {
        sentencepiece::SentencePieceProcessor sp;
        if (!sp.Load(tokenizer_path).ok()) return usage("cannot read the tokenizer");
        tokenizer_model = "llama";
        for (int i = 0; i < sp.GetPieceSize(); i++) {
            pieces.push_back(sp.IdToPiece(i));
            scores.push_back(sp.GetScore(i));
            kinds.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsByte(i) ? 6 : 1);
        }
        bos = sp.bos_id(), eos = sp.eos_id(), unk = sp.unk_id();
    }
    const uint32_t vocab = s.vocab ? s.vocab : static_cast<uint32_t>(pieces.size());
    if (pieces.size() > vocab) return usage("the vocabulary has more tokens than the shape has rows");
    while (pieces.size() < vocab) {  // padding, as the converters write it
        pieces.push_back("[PAD" + std::to_string(pieces.size()) + "]");
        scores.push_back(0.0f);
        kinds.push_back(5);
    }

    GgufWriter g;
    g.str("general.architecture", arch);
    g.str("general.name", std::string("synthetic ") + argv[1] + " " + argv[2]);
    g.u32(key + "embedding_length", s.dim);
    g.u32(key + "feed_forward_length", s.hidden);
    g.u32(key + "block_count", s.layers);
    g.u32(key + "attention.head_count", s.heads);
    g.u32(key + "attention.head_count_kv", s.kv_heads);
    g.u32(key + "rope.dimension_count", s.rope_dims ? s.rope_dims : head_dim);
    if (s.window) {
        g.u32(key + "attention.sliding_window", s.window);
        g.u32(key + "attention.sliding_window_pattern", 6);
        g.f32(key + "rope.freq_base_swa", 10000.0f);
    }
    if (s.head_dim) {
        g.u32(key + "attention.key_length", head_dim);
        g.u32(key + "attention.value_length", head_dim);
    }
    g.u32(key + "context_length", s.context);
    g.f32(key + "rope.freq_base", s.rope_theta);
    g.f32(key + "attention.layer_norm_rms_epsilon", arch == "llama" ? 1e-5f : 1e-6f);
    g.str("tokenizer.ggml.model", tokenizer_model);
    if (!pre.empty()) g.str("tokenizer.ggml.pre", pre);
    g.str_array("tokenizer.ggml.tokens", pieces);
    if (tokenizer_model == "llama") g.f32_array("tokenizer.ggml.scores", scores);
    g.i32_array("tokenizer.ggml.token_type", kinds);
    if (!merges.empty()) g.str_array("tokenizer.ggml.merges", merges);
    if (bos >= 0) g.u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
    if (eos >= 0) g.u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
    if (unk >= 0) g.u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk));
    g.boolean("tokenizer.ggml.add_bos_token", add_bos);

    const WeightType& q8_0 = *weight_type_by_ggml_id(kGgmlQ8_0);
    const uint32_t q_dim = s.heads * head_dim, kv_dim = s.kv_heads * head_dim;
    uint64_t seed = 1;
    auto matrix = [&](const std::string& name, uint32_t rows, uint32_t cols) {
        const WeightType& t = cols % type->block_values == 0 ? *type : q8_0;  // llama.cpp's fallback for odd rows
        g.tensor(name, {cols, rows}, t.ggml_id, random_weights(t.type, uint64_t{rows} * cols, seed++));
    };
    auto vector = [&](const std::string& name, uint32_t n, float value) {
        g.tensor(name, {n}, kGgmlF32, encode_ggml(std::vector<float>(n, value), kGgmlF32));
    };
    matrix("token_embd.weight", vocab, s.dim);
    if (s.rope_freqs) vector("rope_freqs.weight", head_dim / 2, 1.0f);  // (the factors' values do not change the work)
    for (uint32_t l = 0; l < s.layers; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        vector(p + "attn_norm.weight", s.dim, 1.0f);
        if (arch == "phi3") {  // Q, K and V fused, as Phi's files have them
            matrix(p + "attn_qkv.weight", q_dim + 2 * kv_dim, s.dim);
        } else {
            matrix(p + "attn_q.weight", q_dim, s.dim);
            matrix(p + "attn_k.weight", kv_dim, s.dim);
            matrix(p + "attn_v.weight", kv_dim, s.dim);
        }
        if (arch == "qwen2") {
            vector(p + "attn_q.bias", q_dim, 0.01f);
            vector(p + "attn_k.bias", kv_dim, 0.01f);
            vector(p + "attn_v.bias", kv_dim, 0.01f);
        }
        if (arch == "qwen3" || arch == "gemma3") {
            vector(p + "attn_q_norm.weight", head_dim, 1.0f);
            vector(p + "attn_k_norm.weight", head_dim, 1.0f);
        }
        matrix(p + "attn_output.weight", s.dim, q_dim);
        if (arch == "gemma3") vector(p + "post_attention_norm.weight", s.dim, 1.0f);
        vector(p + "ffn_norm.weight", s.dim, 1.0f);
        if (arch == "phi3") {  // the gate's rows, then the up rows
            matrix(p + "ffn_up.weight", 2 * s.hidden, s.dim);
        } else {
            matrix(p + "ffn_gate.weight", s.hidden, s.dim);
            matrix(p + "ffn_up.weight", s.hidden, s.dim);
        }
        matrix(p + "ffn_down.weight", s.dim, s.hidden);
        if (arch == "gemma3") vector(p + "post_ffw_norm.weight", s.dim, 1.0f);
    }
    vector("output_norm.weight", s.dim, 1.0f);
    if (!s.tied) matrix("output.weight", vocab, s.dim);

    return write_gguf(g.bytes(), argv);
}
