#include "retrieval_model.hpp"

#include <cmath>
#include <random>
#include <set>
#include <string>

#include "gguf_writer.hpp"
#include "needle_text.hpp"
#include "random_model.hpp"

namespace wkv {

namespace {

constexpr uint32_t kCodeDims = 96;  // codes of 96 random signs: two differ by about 0.1 in cosine
constexpr uint32_t kDim = 512, kHeads = 2, kHeadDim = kDim / kHeads, kHidden = 32;
// Blocks of the residual stream, and the constant coordinate.
constexpr uint32_t kToken = 0, kPrevious = kCodeDims, kBefore = 2 * kCodeDims, kAnswer = 3 * kCodeDims,
                   kOne = 4 * kCodeDims;
// Head dimensions: pairs below kPositionalPairs rotate at the frequencies below; the rest do not.
constexpr uint32_t kPositionalPairs = 32, kContentStart = 2 * kPositionalPairs;
constexpr float kRopeBase = 10000.0f;
// How sharp each head is: the positional heads' peak stands 48 logits above any other
// position, the induction head's full match about 40 above a half match.
constexpr float kPositionalGain = 64.0f, kInductionGain = 1024.0f, kClassifierGain = 16.0f;

// The rotation frequency of positional pair i: from 2.8 down to 0.05, geometrically. Summed over
// the pairs, cos((distance - d) * freq) is 32 at distance d and at most 20.1 at any other
// distance below 2048 (a numeric search chose the range).
double positional_frequency(uint32_t pair) {
    return 2.8 * std::pow(0.05 / 2.8, static_cast<double>(pair) / (kPositionalPairs - 1));
}

struct Vocabulary {
    std::vector<std::string> pieces;
    std::vector<float> scores;
    std::vector<int32_t> types;  // 1 normal, 2 unknown, 3 control, 6 byte
    void add(const std::string& piece, float score, int32_t type) {
        pieces.push_back(piece);
        scores.push_back(score);
        types.push_back(type);
    }
};

// <unk>, <s>, </s>, the 256 byte pieces, the letters and every prefix of every word of the
// default texts after SentencePiece's space mark (so they merge into whole words), punctuation, digits.
Vocabulary vocabulary() {
    Vocabulary v;
    v.add("<unk>", 0, 2);
    v.add("<s>", 0, 3);
    v.add("</s>", 0, 3);
    for (int b = 0; b < 256; b++) {
        char piece[8];
        std::snprintf(piece, sizeof piece, "<0x%02X>", b);
        v.add(piece, 0, 6);
    }
    std::string text = std::string(needle_text::kIntro) + " " + needle_text::kNeedle + " " + needle_text::kQuestion +
                       " " + needle_text::kAnswerPrefix;
    for (const char* s : needle_text::kFiller) text += std::string(" ") + s;
    std::set<std::string> words;
    std::string word;
    for (char c : text + " ") {
        if (std::isalpha(static_cast<unsigned char>(c))) {
            word += c;
        } else if (!word.empty()) {
            words.insert(word);
            word.clear();
        }
    }
    const std::string mark = "\xe2\x96\x81";  // U+2581, SentencePiece's space
    std::set<std::string> added;
    auto add = [&](const std::string& piece) {
        if (added.insert(piece).second) v.add(piece, static_cast<float>(piece.size()), 1);
    };
    add(mark);
    for (const std::string& w : words) {
        for (char c : w) add(std::string(1, c));  // merges start from characters in the vocabulary
        for (size_t n = 1; n <= w.size(); n++) add(mark + w.substr(0, n));
    }
    for (const char* p : {".", "?", ","}) add(p);
    for (char d = '0'; d <= '9'; d++) {
        add(std::string(1, d));
        add(mark + d);
    }
    return v;
}

using Matrix = std::vector<float>;  // rows x cols, row-major: row = output

}  // namespace

std::vector<uint8_t> retrieval_llama_gguf(uint32_t ggml_type) {
    const Vocabulary vocab = vocabulary();
    const auto n_vocab = static_cast<uint32_t>(vocab.pieces.size());

    // Each token's code: kCodeDims signs of 1/sqrt(kCodeDims), a unit vector.
    std::mt19937 rng(20250301);
    std::vector<std::vector<float>> code(n_vocab, std::vector<float>(kCodeDims));
    for (auto& c : code)
        for (float& x : c) x = (rng() & 1 ? 1.0f : -1.0f) / std::sqrt(static_cast<float>(kCodeDims));

    // RMSNorm divides by the root mean square of the residual: with unit codes in n blocks and
    // the constant 1, that is sqrt((n + 1) / kDim). The layers undo it.
    auto normed = [](uint32_t blocks) { return std::sqrt(static_cast<float>(kDim) / static_cast<float>(blocks + 1)); };
    const float in0 = normed(1), in1 = normed(3), out = normed(4);

    Matrix embedding(uint64_t{n_vocab} * kDim, 0.0f), classifier(uint64_t{n_vocab} * kDim, 0.0f);
    for (uint32_t v = 0; v < n_vocab; v++) {
        for (uint32_t r = 0; r < kCodeDims; r++) {
            embedding[uint64_t{v} * kDim + kToken + r] = code[v][r];
            classifier[uint64_t{v} * kDim + kAnswer + r] = kClassifierGain * code[v][r] / out;
        }
        embedding[uint64_t{v} * kDim + kOne] = 1.0f;
    }
    auto square = [] { return Matrix(uint64_t{kDim} * kDim, 0.0f); };
    auto at = [](Matrix& m, uint32_t row, uint32_t col) -> float& { return m[uint64_t{row} * kDim + col]; };

    // Layer 0: head h attends to distance h + 1 and copies that token's code.
    Matrix q0 = square(), k0 = square(), v0 = square(), o0 = square();
    for (uint32_t h = 0; h < 2; h++) {
        const uint32_t head = h * kHeadDim, distance = h + 1;
        for (uint32_t i = 0; i < kPositionalPairs; i++) {
            // After RoPE, q . k = gain * cos((t - j - distance) * freq): q is k turned back by distance.
            const double angle = distance * positional_frequency(i);
            at(q0, head + 2 * i, kOne) = static_cast<float>(kPositionalGain * std::cos(angle)) / in0;
            at(q0, head + 2 * i + 1, kOne) = static_cast<float>(-kPositionalGain * std::sin(angle)) / in0;
            at(k0, head + 2 * i, kOne) = 1.0f / in0;
        }
        for (uint32_t r = 0; r < kCodeDims; r++) {
            at(v0, head + r, kToken + r) = 1.0f / in0;
            at(o0, (h == 0 ? kPrevious : kBefore) + r, head + r) = 1.0f;
        }
    }
    // Layer 1, head 0: (token, previous) against (previous, before), in the unrotated dimensions.
    Matrix q1 = square(), k1 = square(), v1 = square(), o1 = square();
    for (uint32_t r = 0; r < kCodeDims; r++) {
        at(q1, kContentStart + r, kToken + r) = kInductionGain / in1;
        at(q1, kContentStart + kCodeDims + r, kPrevious + r) = kInductionGain / in1;
        at(k1, kContentStart + r, kPrevious + r) = 1.0f / in1;
        at(k1, kContentStart + kCodeDims + r, kBefore + r) = 1.0f / in1;
        at(v1, r, kToken + r) = 1.0f / in1;
        at(o1, kAnswer + r, r) = 1.0f;
    }

    // Pair i's frequency is base^(-2i/head_dim) / factor[i].
    std::vector<float> factors(kHeadDim / 2);
    for (uint32_t i = 0; i < kHeadDim / 2; i++) {
        const double base = std::pow(static_cast<double>(kRopeBase), -2.0 * i / kHeadDim);
        factors[i] = i < kPositionalPairs ? static_cast<float>(base / positional_frequency(i)) : 1e30f;
    }

    GgufWriter g;
    g.str("general.architecture", "llama");
    g.str("general.name", "wkv retrieval (constructed)");
    g.u32("llama.embedding_length", kDim);
    g.u32("llama.feed_forward_length", kHidden);
    g.u32("llama.block_count", 2);
    g.u32("llama.attention.head_count", kHeads);
    g.u32("llama.attention.head_count_kv", kHeads);
    g.u32("llama.context_length", kRetrievalContext);
    g.u32("llama.rope.dimension_count", kHeadDim);
    g.f32("llama.rope.freq_base", kRopeBase);
    g.f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    g.str("tokenizer.ggml.model", "llama");
    g.str_array("tokenizer.ggml.tokens", vocab.pieces);
    g.f32_array("tokenizer.ggml.scores", vocab.scores);
    g.i32_array("tokenizer.ggml.token_type", vocab.types);
    g.u32("tokenizer.ggml.unknown_token_id", 0);
    g.u32("tokenizer.ggml.bos_token_id", 1);
    g.u32("tokenizer.ggml.eos_token_id", 2);
    g.boolean("tokenizer.ggml.add_bos_token", true);

    const std::vector<float> ones(kDim, 1.0f);
    auto matrix = [&](const std::string& name, uint32_t cols, uint32_t rows, const Matrix& m) {
        g.tensor(name, {cols, rows}, ggml_type, encode_ggml(m, ggml_type));
    };
    matrix("token_embd.weight", kDim, n_vocab, embedding);
    g.tensor("rope_freqs.weight", {kHeadDim / 2}, kGgmlF32, encode_ggml(factors, kGgmlF32));
    const Matrix* layers[2][4] = {{&q0, &k0, &v0, &o0}, {&q1, &k1, &v1, &o1}};
    const Matrix zero_ffn(uint64_t{kDim} * kHidden, 0.0f);
    for (uint32_t l = 0; l < 2; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        g.tensor(p + "attn_norm.weight", {kDim}, kGgmlF32, encode_ggml(ones, kGgmlF32));
        matrix(p + "attn_q.weight", kDim, kDim, *layers[l][0]);
        matrix(p + "attn_k.weight", kDim, kDim, *layers[l][1]);
        matrix(p + "attn_v.weight", kDim, kDim, *layers[l][2]);
        matrix(p + "attn_output.weight", kDim, kDim, *layers[l][3]);
        g.tensor(p + "ffn_norm.weight", {kDim}, kGgmlF32, encode_ggml(ones, kGgmlF32));
        matrix(p + "ffn_gate.weight", kDim, kHidden, zero_ffn);
        matrix(p + "ffn_up.weight", kDim, kHidden, zero_ffn);
        matrix(p + "ffn_down.weight", kHidden, kDim, zero_ffn);
    }
    g.tensor("output_norm.weight", {kDim}, kGgmlF32, encode_ggml(ones, kGgmlF32));
    matrix("output.weight", kDim, n_vocab, classifier);
    return g.bytes();
}

}  // namespace wkv
