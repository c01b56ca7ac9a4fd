#include "model.hpp"

#include "error.hpp"
#include "gguf.hpp"
#include "tensor_roles.hpp"

namespace wkv {

const char* model_format_name(ModelFormat f) {
    switch (f) {
        case ModelFormat::llama2c_v0: return "llama2.c v0";
        case ModelFormat::llama2c_v2: return "llama2.c v2";
        case ModelFormat::gguf: return "GGUF";
    }
    return "?";
}

uint64_t Model::weight_bytes() const {
    auto bytes = [](const TensorView& t) { return tensor_bytes(t.name, t.type, t.rows, t.cols, t.group_size); };
    uint64_t total = 0;
    for (const TensorView* t : all_tensors(*this)) total += bytes(*t);
    return total;
}

uint64_t Model::bytes_read_per_token() const {
    const uint64_t table = tensor_bytes(token_embedding.name, token_embedding.type, token_embedding.rows,
                                        token_embedding.cols, token_embedding.group_size);
    const bool shared = classifier.data == token_embedding.data;
    return weight_bytes() - (shared ? 0 : table) + table / token_embedding.rows;
}

namespace {

void expect_shape(const Model& m, const TensorView& t, uint64_t rows, uint64_t cols) {
    if (t.rows != rows || t.cols != cols) {
        fail(m.path, "tensor " + quoted(t.name) + " has shape [" + std::to_string(t.rows) + "][" +
                         std::to_string(t.cols) + "], expected [" + std::to_string(rows) + "][" + std::to_string(cols) +
                         "]");
    }
}

void expect_norm(const Model& m, const TensorView& t) {
    if (t.type != TensorType::f32 && t.type != TensorType::f16) {
        fail(m.path,
             "norm tensor " + quoted(t.name) + " has type " + tensor_type_name(t.type) + " (f32 or f16 expected)");
    }
}

}  // namespace

void check_model_shapes(const Model& m) {
    auto check = [&](const TensorView& t, bool norm, TensorShape (*shape)(const ModelConfig&)) {
        const TensorShape expected = shape(m.config);
        expect_shape(m, t, expected.rows, expected.cols);
        if (norm) expect_norm(m, t);
    };
    for (const ModelTensorRole& r : model_tensor_roles()) {
        if ((m.*r.member).data) check(m.*r.member, r.norm, r.shape);  // (an optional one may be left out)
    }
    if (m.layers.size() != m.config.n_layers) fail(m.path, "layer count does not match the header");
    for (const LayerWeights& l : m.layers) {
        for (const LayerTensorRole& r : layer_tensor_roles()) {
            if (has_role(r, m.config)) check(l.*r.member, r.norm, r.shape);
        }
    }
}

Model load_model(const std::string& path) {
    Model m;
    m.path = path;
    m.file = MappedFile(path);
    if (is_gguf(m.file)) {
        m.format = ModelFormat::gguf;
        load_gguf_llama(m);
    } else {
        load_llama2c(m);
        const ModelConfig& c = m.config;
        m.metadata = {{"dim", std::to_string(c.dim)},
                      {"hidden_dim", std::to_string(c.hidden_dim)},
                      {"n_layers", std::to_string(c.n_layers)},
                      {"n_heads", std::to_string(c.n_heads)},
                      {"n_kv_heads", std::to_string(c.n_kv_heads)},
                      {"vocab_size", std::to_string(c.vocab_size)},
                      {"seq_len", std::to_string(c.context)},
                      {"shared_classifier", m.classifier.data == m.token_embedding.data ? "true" : "false"}};
    }
    check_model_shapes(m);
    return m;
}

}  // namespace wkv
