#include "random_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "gguf_writer.hpp"
#include "quantize.hpp"

namespace wkv {

namespace {

// Where each block type keeps its f16 fields, by byte offset in the block.
struct HalfFields {
    TensorType type;
    uint32_t offsets[2];
    uint32_t count;
};
constexpr HalfFields kHalfFields[] = {
    {TensorType::q4_0, {0}, 1},       // d
    {TensorType::q4_1, {0, 2}, 2},    // d, m
    {TensorType::q5_0, {0}, 1},       // d
    {TensorType::q5_1, {0, 2}, 2},    // d, m
    {TensorType::q8_0, {0}, 1},       // d
    {TensorType::q2_K, {80, 82}, 2},  // d, dmin
    {TensorType::q3_K, {108}, 1},     // d
    {TensorType::q4_K, {0, 2}, 2},    // d, dmin
    {TensorType::q5_K, {0, 2}, 2},    // d, dmin
    {TensorType::q6_K, {208}, 1},     // d
    {TensorType::iq4_nl, {0}, 1},     // d
    {TensorType::iq4_xs, {0}, 1},     // d
};

uint64_t next(uint64_t& state) {  // xorshift64*
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 0x2545F4914F6CDD1Dull;
}

}  // namespace

std::vector<uint8_t> random_weights(TensorType type, uint64_t values, uint64_t seed) {
    const WeightType& w = weight_type(type);
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    auto uniform = [&] { return static_cast<float>(next(state) >> 40) / 8388608.0f - 1.0f; };  // [-1, 1)
    if (w.block_values == 1) {
        std::vector<float> v(values);
        for (float& x : v) x = uniform();
        return encode_ggml(v, w.ggml_id);
    }
    const HalfFields* fields = nullptr;
    for (const HalfFields& f : kHalfFields) {
        if (f.type == type) fields = &f;
    }
    if (!fields) throw std::logic_error(std::string("random_weights: no conformance case for ") + w.name);
    std::vector<uint8_t> out(values / w.block_values * w.block_bytes);
    for (uint8_t& b : out) b = static_cast<uint8_t>(next(state) >> 56);
    for (size_t block = 0; block < out.size(); block += w.block_bytes) {
        for (uint32_t i = 0; i < fields->count; i++) {
            // A magnitude in [2^-8, 2^-4), either sign: moderate whatever it scales.
            const float half = std::ldexp(1.0f + 0.5f * (uniform() + 1.0f), -8 + static_cast<int>(next(state) % 4)) *
                               (next(state) & 1 ? -1.0f : 1.0f);
            const uint16_t h = f32_to_f16(half);
            std::memcpy(&out[block + fields->offsets[i]], &h, 2);
        }
    }
    return out;
}

std::vector<uint8_t> encode_ggml(const std::vector<float>& values, uint32_t ggml_type) {
    std::vector<uint8_t> out;
    auto put_u16 = [&](uint16_t v) {
        out.push_back(v & 0xff);
        out.push_back(v >> 8);
    };
    switch (ggml_type) {
        case kGgmlF32:
            out.resize(values.size() * 4);
            std::memcpy(out.data(), values.data(), out.size());
            break;
        case kGgmlF16:
            for (float v : values) put_u16(f32_to_f16(v));
            break;
        case kGgmlBF16:
            for (float v : values) {
                uint32_t bits;
                std::memcpy(&bits, &v, 4);
                put_u16(static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16));  // nearest, ties to even
            }
            break;
        case kGgmlQ8_0:
            out.resize(values.size() / 32 * 34);
            quantize_q8_0(values.data(), values.size() / 32, out.data());
            break;
        case kGgmlQ4_0:
            out.resize(values.size() / 32 * 18);
            quantize_q4_0(values.data(), values.size() / 32, out.data());
            break;
        default: throw std::logic_error("encode_ggml: no quantiser for ggml type " + std::to_string(ggml_type));
    }
    return out;
}

std::vector<uint8_t> random_llama_gguf(const RandomModelOptions& o) {
    const ModelConfig& c = o.config;
    uint64_t state = o.seed * 0x9E3779B97F4A7C15ull + 1;
    auto uniform = [&] {  // [-1, 1)
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return static_cast<float>((state * 0x2545F4914F6CDD1Dull) >> 40) / 8388608.0f - 1.0f;
    };
    auto matrix = [&](uint64_t rows, uint64_t cols) {
        std::vector<float> w(rows * cols);
        const float scale = std::sqrt(3.0f / static_cast<float>(cols));  // unit variance outputs
        for (float& x : w) x = uniform() * scale;
        return w;
    };
    auto norm = [&] {
        std::vector<float> w(c.dim);
        for (float& x : w) x = 1.0f + 0.1f * uniform();
        return w;
    };

    GgufWriter g;
    g.str("general.architecture", "llama");
    g.u32("llama.embedding_length", c.dim);
    g.u32("llama.feed_forward_length", c.hidden_dim);
    g.u32("llama.block_count", c.n_layers);
    g.u32("llama.attention.head_count", c.n_heads);
    g.u32("llama.attention.head_count_kv", c.n_kv_heads);
    g.u32("llama.context_length", c.context);
    g.f32("llama.rope.freq_base", c.rope_theta);
    g.f32("llama.attention.layer_norm_rms_epsilon", c.rms_eps);
    if (o.extra_metadata) o.extra_metadata(g);
    const uint32_t q_dim = c.n_heads * c.head_dim();
    g.tensor("token_embd.weight", {c.dim, c.vocab_size}, o.weight_type,
             encode_ggml(matrix(c.vocab_size, c.dim), o.weight_type));
    for (uint32_t l = 0; l < c.n_layers; l++) {
        const std::string p = "blk." + std::to_string(l) + ".";
        g.tensor(p + "attn_norm.weight", {c.dim}, kGgmlF32, encode_ggml(norm(), kGgmlF32));
        g.tensor(p + "attn_q.weight", {c.dim, q_dim}, o.weight_type, encode_ggml(matrix(q_dim, c.dim), o.weight_type));
        g.tensor(p + "attn_k.weight", {c.dim, c.kv_dim()}, o.weight_type,
                 encode_ggml(matrix(c.kv_dim(), c.dim), o.weight_type));
        g.tensor(p + "attn_v.weight", {c.dim, c.kv_dim()}, o.weight_type,
                 encode_ggml(matrix(c.kv_dim(), c.dim), o.weight_type));
        g.tensor(p + "attn_output.weight", {q_dim, c.dim}, o.weight_type,
                 encode_ggml(matrix(c.dim, q_dim), o.weight_type));
        g.tensor(p + "ffn_norm.weight", {c.dim}, kGgmlF32, encode_ggml(norm(), kGgmlF32));
        g.tensor(p + "ffn_gate.weight", {c.dim, c.hidden_dim}, o.weight_type,
                 encode_ggml(matrix(c.hidden_dim, c.dim), o.weight_type));
        g.tensor(p + "ffn_up.weight", {c.dim, c.hidden_dim}, o.weight_type,
                 encode_ggml(matrix(c.hidden_dim, c.dim), o.weight_type));
        g.tensor(p + "ffn_down.weight", {c.hidden_dim, c.dim}, o.weight_type,
                 encode_ggml(matrix(c.dim, c.hidden_dim), o.weight_type));
    }
    g.tensor("output_norm.weight", {c.dim}, kGgmlF32, encode_ggml(norm(), kGgmlF32));
    if (!o.tied_classifier) {
        g.tensor("output.weight", {c.dim, c.vocab_size}, o.weight_type,
                 encode_ggml(matrix(c.vocab_size, c.dim), o.weight_type));
    }
    return g.bytes();
}

}  // namespace wkv
