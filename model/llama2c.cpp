// llama2.c checkpoints (github.com/karpathy/llama2.c, export.py):
//   v0 ("legacy"): 7 x int32 header, then fp32 weights in a fixed order; the
//      classifier is shared with the embedding when vocab_size > 0 and stored
//      after the (unused) RoPE tables when it is negative.
//   v2: 256-byte header with magic "ak42"; fp32 norms, then every matrix as
//      int8 values followed by one fp32 scale per group of the flattened tensor.
#include <climits>

#include "error.hpp"
#include "model.hpp"

namespace wkv {

namespace {

constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42"
constexpr uint64_t kV2HeaderBytes = 256;

struct Header {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

ModelConfig config_from(const Header& h, const std::string& path) {
    auto positive = [&](const char* name, int32_t v) -> uint32_t {
        if (v <= 0) fail(path, std::string(name) + " = " + std::to_string(v) + " in the header is not positive");
        return static_cast<uint32_t>(v);
    };
    if (h.vocab_size == INT32_MIN) fail(path, "vocab_size in the header is out of range");
    ModelConfig c;
    c.dim = positive("dim", h.dim);
    c.hidden_dim = positive("hidden_dim", h.hidden_dim);
    c.n_layers = positive("n_layers", h.n_layers);
    c.n_heads = positive("n_heads", h.n_heads);
    c.n_kv_heads = positive("n_kv_heads", h.n_kv_heads);
    c.vocab_size = positive("vocab_size", h.vocab_size < 0 ? -h.vocab_size : h.vocab_size);
    c.context = positive("seq_len", h.seq_len);
    validate_config(c, path);
    return c;
}

TensorView take(ByteReader& r, std::string name, TensorType type, uint64_t rows, uint64_t cols,
                uint32_t group_size = 0) {
    TensorView t;
    t.name = std::move(name);
    t.type = type;
    t.rows = rows;
    t.cols = cols;
    t.group_size = group_size;
    const uint64_t bytes = tensor_bytes(r.path() + ": tensor " + quoted(t.name), type, rows, cols, group_size);
    if (type == TensorType::q8_grouped) {
        t.data = r.take(t.elements(), t.name);
        t.scales = r.take(bytes - t.elements(), t.name + " scales");
    } else {
        t.data = r.take(bytes, t.name);
    }
    return t;
}

std::string layer_name(const char* what, uint32_t layer) {
    return std::string(what) + "[" + std::to_string(layer) + "]";
}

// Both versions store each kind of per-layer tensor for all layers in a row.
void take_per_layer(ByteReader& r, Model& m, TensorView LayerWeights::*field, const char* name, TensorType type,
                    uint64_t rows, uint64_t cols, uint32_t group_size) {
    for (uint32_t l = 0; l < m.config.n_layers; l++) {
        m.layers[l].*field = take(r, layer_name(name, l), type, rows, cols, group_size);
    }
}

void require_end(const ByteReader& r, const std::string& path) {
    if (r.remaining() != 0) {
        fail(path, std::to_string(r.remaining()) + " unexpected bytes after the last tensor (at offset " +
                       std::to_string(r.offset()) + "); the header does not describe this file");
    }
}

void load_v0(Model& m, ByteReader& r) {
    Header h{};
    for (int32_t* field : {&h.dim, &h.hidden_dim, &h.n_layers, &h.n_heads, &h.n_kv_heads, &h.vocab_size, &h.seq_len}) {
        *field = r.read<int32_t>("header");
    }
    m.format = ModelFormat::llama2c_v0;
    m.config = config_from(h, m.path);
    const ModelConfig& c = m.config;
    const bool shared_classifier = h.vocab_size > 0;
    const TensorType f32 = TensorType::f32;
    m.layers.resize(c.n_layers);

    m.token_embedding = take(r, "token_embedding", f32, c.vocab_size, c.dim);
    take_per_layer(r, m, &LayerWeights::attn_norm, "rms_att", f32, 1, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::wq, "wq", f32, c.dim, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::wk, "wk", f32, c.kv_dim(), c.dim, 0);
    take_per_layer(r, m, &LayerWeights::wv, "wv", f32, c.kv_dim(), c.dim, 0);
    take_per_layer(r, m, &LayerWeights::wo, "wo", f32, c.dim, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::ffn_norm, "rms_ffn", f32, 1, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::w1, "w1", f32, c.hidden_dim, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::w2, "w2", f32, c.dim, c.hidden_dim, 0);
    take_per_layer(r, m, &LayerWeights::w3, "w3", f32, c.hidden_dim, c.dim, 0);
    m.final_norm = take(r, "rms_final", f32, 1, c.dim);
    // Legacy RoPE tables (cos and sin for seq_len positions): RoPE is computed
    // on the fly instead, so positions past seq_len work too.
    take(r, "freq_cis_real", f32, c.context, c.head_dim() / 2);
    take(r, "freq_cis_imag", f32, c.context, c.head_dim() / 2);
    m.classifier = shared_classifier ? m.token_embedding : take(r, "classifier", f32, c.vocab_size, c.dim);
    require_end(r, m.path);
}

void load_v2(Model& m, ByteReader& r) {
    r.read<uint32_t>("magic");
    const int32_t version = r.read<int32_t>("version");
    if (version != 2) {
        fail(m.path, "unsupported llama2.c checkpoint version " + std::to_string(version) + " (0 and 2 are supported)");
    }
    Header h{};
    for (int32_t* field : {&h.dim, &h.hidden_dim, &h.n_layers, &h.n_heads, &h.n_kv_heads, &h.vocab_size, &h.seq_len}) {
        *field = r.read<int32_t>("header");
    }
    const uint8_t shared_byte = r.read<uint8_t>("shared_classifier");
    const int32_t group_size = r.read<int32_t>("group_size");
    if (shared_byte > 1)
        fail(m.path, "shared_classifier flag is " + std::to_string(shared_byte) + " (0 or 1 expected)");
    if (group_size <= 0 || group_size > (1 << 20)) {
        fail(m.path, "group_size " + std::to_string(group_size) + " is out of range");
    }
    if (h.vocab_size < 0) fail(m.path, "vocab_size " + std::to_string(h.vocab_size) + " is negative");
    r.seek(kV2HeaderBytes, "version 2 weights");
    m.format = ModelFormat::llama2c_v2;
    m.config = config_from(h, m.path);
    const ModelConfig& c = m.config;
    const uint32_t gs = static_cast<uint32_t>(group_size);
    const TensorType f32 = TensorType::f32, q8 = TensorType::q8_grouped;
    m.layers.resize(c.n_layers);

    take_per_layer(r, m, &LayerWeights::attn_norm, "rms_att", f32, 1, c.dim, 0);
    take_per_layer(r, m, &LayerWeights::ffn_norm, "rms_ffn", f32, 1, c.dim, 0);
    m.final_norm = take(r, "rms_final", f32, 1, c.dim);
    m.token_embedding = take(r, "token_embedding", q8, c.vocab_size, c.dim, gs);
    take_per_layer(r, m, &LayerWeights::wq, "wq", q8, c.dim, c.dim, gs);
    take_per_layer(r, m, &LayerWeights::wk, "wk", q8, c.kv_dim(), c.dim, gs);
    take_per_layer(r, m, &LayerWeights::wv, "wv", q8, c.kv_dim(), c.dim, gs);
    take_per_layer(r, m, &LayerWeights::wo, "wo", q8, c.dim, c.dim, gs);
    take_per_layer(r, m, &LayerWeights::w1, "w1", q8, c.hidden_dim, c.dim, gs);
    take_per_layer(r, m, &LayerWeights::w2, "w2", q8, c.dim, c.hidden_dim, gs);
    take_per_layer(r, m, &LayerWeights::w3, "w3", q8, c.hidden_dim, c.dim, gs);
    m.classifier = shared_byte ? m.token_embedding : take(r, "classifier", q8, c.vocab_size, c.dim, gs);
    require_end(r, m.path);
}

}  // namespace

void load_llama2c(Model& m) {
    ByteReader r(m.file.data(), m.file.size(), m.path);
    uint32_t magic = 0;
    if (m.file.size() >= 4) std::memcpy(&magic, m.file.data(), 4);
    if (magic == kLlama2cMagic) {
        load_v2(m, r);
    } else {
        load_v0(m, r);
    }
}

}  // namespace wkv
