// Writes a GGUF file with seeded random weights in the shape of a real model,
// so speed can be measured at real sizes without downloading one: wkv and
// llama.cpp both load it (bench/real_shapes.sh). The vocabulary is Llama 2's,
// read from its sentencepiece model, so llama.cpp accepts the file as it
// would the real one. Block types get random blocks with moderate scales
// (model/random_model.hpp): the text is noise, the work is the real work.
//
// Usage: wkv_synthetic_gguf SHAPE TYPE TOKENIZER.model OUT.gguf
//   SHAPE: tinyllama-1.1b | llama-2-7b | codellama-7b     TYPE: f16, q8_0, q4_0, q4_K, ...
#include <sentencepiece_processor.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "config.hpp"
#include "gguf_writer.hpp"
#include "random_model.hpp"
#include "tensor.hpp"

using namespace wkv;

namespace {

struct Shape {
    uint32_t dim, hidden, layers, heads, kv_heads, context;
    float rope_theta;
};

const std::map<std::string, Shape> kShapes = {
    {"tinyllama-1.1b", {2048, 5632, 22, 32, 4, 2048, 10000.0f}},
    {"llama-2-7b", {4096, 11008, 32, 32, 32, 4096, 10000.0f}},
    {"codellama-7b", {4096, 11008, 32, 32, 32, 16384, 1000000.0f}},
};

int usage(const char* why) {
    std::fprintf(
        stderr,
        "wkv_synthetic_gguf: %s\nusage: wkv_synthetic_gguf SHAPE TYPE TOKENIZER.model OUT.gguf\n  SHAPE: ", why);
    for (const auto& [name, shape] : kShapes) std::fprintf(stderr, "%s ", name.c_str());
    std::fprintf(stderr, "\n  TYPE: %s\n", weight_type_list().c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) return usage("expected four arguments");
    const auto shape = kShapes.find(argv[1]);
    if (shape == kShapes.end()) return usage("unknown shape");
    const WeightType* type = nullptr;
    for (const WeightType& w : weight_types()) {
        if (w.name == std::string(argv[2])) type = &w;
    }
    if (!type) return usage("unknown weight type");
    sentencepiece::SentencePieceProcessor sp;
    if (!sp.Load(argv[3]).ok()) return usage("cannot read the tokenizer");
    const Shape& s = shape->second;
    const uint32_t vocab = static_cast<uint32_t>(sp.GetPieceSize());
    if (s.dim % type->block_values != 0 || s.hidden % type->block_values != 0)
        return usage("the shape's rows are not whole blocks of this type");

    GgufWriter g;
    g.str("general.architecture", "llama");
    g.str("general.name", std::string("synthetic ") + argv[1] + " " + argv[2]);
    g.u32("llama.embedding_length", s.dim);
    g.u32("llama.feed_forward_length", s.hidden);
    g.u32("llama.block_count", s.layers);
    g.u32("llama.attention.head_count", s.heads);
    g.u32("llama.attention.head_count_kv", s.kv_heads);
    g.u32("llama.rope.dimension_count", s.dim / s.heads);
    g.u32("llama.context_length", s.context);
    g.f32("llama.rope.freq_base", s.rope_theta);
    g.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<int32_t> kinds;  // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 6 byte
    for (uint32_t id = 0; id < vocab; id++) {
        const int i = static_cast<int>(id);
        pieces.push_back(sp.IdToPiece(i));
        scores.push_back(sp.GetScore(i));
        kinds.push_back(sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsByte(i) ? 6 : 1);
    }
    g.str("tokenizer.ggml.model", "llama");
    g.str_array("tokenizer.ggml.tokens", pieces);
    g.f32_array("tokenizer.ggml.scores", scores);
    g.i32_array("tokenizer.ggml.token_type", kinds);
    g.u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(sp.bos_id()));
    g.u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(sp.eos_id()));
    g.u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(sp.unk_id()));

    const uint32_t q_dim = s.dim, kv_dim = s.dim / s.heads * s.kv_heads;
    uint64_t seed = 1;
    auto matrix = [&](const std::string& name, uint32_t rows, uint32_t cols) {
        g.tensor(name, {cols, rows}, type->ggml_id, random_weights(type->type, uint64_t{rows} * cols, seed++));
    };
    auto norm = [&](const std::string& name) {
        g.tensor(name, {s.dim}, kGgmlF32, encode_ggml(std::vector<float>(s.dim, 1.0f), kGgmlF32));
    };
    matrix("token_embd.weight", vocab, s.dim);
    for (uint32_t l = 0; l < s.layers; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        norm(p + "attn_norm.weight");
        matrix(p + "attn_q.weight", q_dim, s.dim);
        matrix(p + "attn_k.weight", kv_dim, s.dim);
        matrix(p + "attn_v.weight", kv_dim, s.dim);
        matrix(p + "attn_output.weight", s.dim, q_dim);
        norm(p + "ffn_norm.weight");
        matrix(p + "ffn_gate.weight", s.hidden, s.dim);
        matrix(p + "ffn_up.weight", s.hidden, s.dim);
        matrix(p + "ffn_down.weight", s.dim, s.hidden);
    }
    norm("output_norm.weight");
    matrix("output.weight", vocab, s.dim);

    const std::vector<uint8_t> bytes = g.bytes();
    const std::string tmp = std::string(argv[4]) + ".tmp";
    std::ofstream out(tmp, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out || std::rename(tmp.c_str(), argv[4]) != 0) {
        std::remove(tmp.c_str());
        std::fprintf(stderr, "wkv_synthetic_gguf: cannot write %s\n", argv[4]);
        return 1;
    }
    std::printf("%s: %s %s, %.2f GiB\n", argv[4], argv[1], argv[2], static_cast<double>(bytes.size()) / 1073741824.0);
    return 0;
}
