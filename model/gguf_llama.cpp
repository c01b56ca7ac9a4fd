// A Llama model (general.architecture = "llama") from a GGUF file: the
// hyper-parameters from llama.* metadata, the weights by llama.cpp's tensor
// names, and the vocabulary from tokenizer.ggml.* when the file embeds one.
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "checked_math.hpp"
#include "error.hpp"
#include "gguf.hpp"
#include "gguf_vocabulary.hpp"
#include "model.hpp"
#include "tensor_roles.hpp"

namespace wkv {

namespace {

// ggml's names of every type id, also those wkv does not read (for the error that names them).
const char* ggml_type_name(uint32_t t) {
    static const char* names[] = {"f32",     "f16",    "q4_0",    "q4_1",  "q4_2",   "q4_3",  "q5_0",  "q5_1",
                                  "q8_0",    "q8_1",   "q2_K",    "q3_K",  "q4_K",   "q5_K",  "q6_K",  "q8_K",
                                  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs",
                                  "i8",      "i16",    "i32",     "i64",   "f64",    "iq1_m", "bf16"};
    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

// Linear RoPE scaling (llama.rope.scaling.type = linear with .factor, or the
// older llama.rope.scale_linear) as the factor positions are multiplied by.
// Any other scaling (YaRN, LongRoPE, ...) changes the math in ways wkv does
// not implement, so it is an error.
float rope_position_scale(const GgufMetadata& meta, const std::string& path) {
    const std::string type = meta.text("llama.rope.scaling.type").value_or("none");
    std::optional<float> factor = meta.f32("llama.rope.scale_linear");
    if (type == "linear") {
        factor = meta.f32("llama.rope.scaling.factor");
        if (!factor) fail(path, "llama.rope.scaling.type is 'linear' but llama.rope.scaling.factor is missing");
    } else if (type != "none") {
        fail(path, "llama.rope.scaling.type is " + quoted(type) + ": only linear RoPE scaling is supported");
    }
    if (!factor) return 1.0f;
    if (!(*factor >= 1.0f && *factor <= 1024.0f)) {
        fail(path, "RoPE scaling factor " + std::to_string(*factor) + " is outside 1..1024");
    }
    return 1.0f / *factor;
}

// A metadata value as one short line: strings quoted, arrays by their length.
std::string render(const GgufValue& v) {
    switch (v.type) {
        case GgufValueType::string: return quoted(v.text);
        case GgufValueType::array:
            return "[" + std::to_string(v.count) + (v.element_type == GgufValueType::string ? " strings]" : " values]");
        case GgufValueType::boolean: return v.number != 0 ? "true" : "false";
        case GgufValueType::f32:
        case GgufValueType::f64: {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", v.number);
            return buf;
        }
        default: return std::to_string(static_cast<long long>(v.number));
    }
}

}  // namespace

void load_gguf_llama(Model& m) {
    const GgufFile g = parse_gguf(m.file);
    const GgufMetadata meta(g, m.path);
    for (const auto& [key, value] : g.metadata) m.metadata.emplace_back(one_line(key), render(value));
    const std::string arch = meta.text("general.architecture").value_or("");
    if (arch != "llama") {
        fail(m.path, "general.architecture is " + quoted(arch) + "; only 'llama' models are supported");
    }

    std::map<std::string, const GgufTensorInfo*> by_name;
    for (const GgufTensorInfo& t : g.tensors) by_name[t.name] = &t;
    auto view = [&](const std::string& name, bool required = true) -> std::optional<TensorView> {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
            if (required) fail(m.path, "tensor " + quoted(name) + " is missing");
            return std::nullopt;
        }
        const GgufTensorInfo& info = *it->second;
        const WeightType* type = weight_type_by_ggml_id(info.ggml_type);
        if (!type) {
            fail(m.path, "tensor " + quoted(name) + " has unsupported tensor type " + ggml_type_name(info.ggml_type) +
                             " (" + std::to_string(info.ggml_type) + "); supported: " + weight_type_list());
        }
        // GGUF lists the fastest-varying dimension first: [cols, rows].
        if (info.dims.size() > 2) fail(m.path, "tensor " + quoted(name) + " has more than 2 dimensions");
        TensorView t;
        t.name = name;
        t.type = type->type;
        t.cols = info.dims[0];
        t.rows = info.dims.size() == 2 ? info.dims[1] : 1;
        const uint64_t bytes = tensor_bytes(m.path + ": tensor " + quoted(name), t.type, t.rows, t.cols);
        const auto begin = checked_add(g.data_offset, info.offset);
        const auto end = begin ? checked_add(*begin, bytes) : std::nullopt;
        if (!end || *end > m.file.size()) {
            fail(m.path, "truncated: tensor " + quoted(name) + " data at offset " + std::to_string(info.offset) + " (" +
                             std::to_string(bytes) + " bytes) lies past the end of the file");
        }
        t.data = m.file.data() + *begin;
        return t;
    };

    ModelConfig& c = m.config;
    c.dim = meta.required_u32("llama.embedding_length");
    c.hidden_dim = meta.required_u32("llama.feed_forward_length");
    c.n_layers = meta.required_u32("llama.block_count");
    c.n_heads = meta.required_u32("llama.attention.head_count");
    c.n_kv_heads = meta.u32("llama.attention.head_count_kv").value_or(c.n_heads);
    c.context = meta.required_u32("llama.context_length");
    c.rope_theta = meta.f32("llama.rope.freq_base").value_or(10000.0f);
    c.rms_eps = meta.f32("llama.attention.layer_norm_rms_epsilon").value_or(1e-5f);
    c.rope_scale = rope_position_scale(meta, m.path);
    // Metadata that changes the math in ways not implemented: refused, never ignored.
    if (meta.u32("llama.expert_count").value_or(0) > 0)
        fail(m.path, "llama.expert_count > 0: mixture-of-experts models are not supported");
    m.token_embedding = *view("token_embd.weight");
    c.vocab_size = static_cast<uint32_t>(std::min<uint64_t>(m.token_embedding.rows, UINT32_MAX));
    validate_config(c, m.path);
    if (auto rope_dims = meta.u32("llama.rope.dimension_count"); rope_dims && *rope_dims != c.head_dim()) {
        fail(m.path, "llama.rope.dimension_count " + std::to_string(*rope_dims) + " differs from the head size " +
                         std::to_string(c.head_dim()) + " (partial rotary embeddings are not supported)");
    }

    for (const ModelTensorRole& r : model_tensor_roles()) {
        const std::optional<TensorView> t = view(r.gguf_name, !r.optional);
        m.*r.member = t ? *t : m.token_embedding;  // an optional one left out: the classifier reads the embedding table
    }
    m.layers.resize(c.n_layers);
    std::set<std::string> used;
    for (const ModelTensorRole& r : model_tensor_roles()) used.insert(r.gguf_name);
    for (uint32_t l = 0; l < c.n_layers; l++) {
        const std::string prefix = "blk." + std::to_string(l) + ".";
        for (const LayerTensorRole& r : layer_tensor_roles()) {
            m.layers[l].*r.member = *view(prefix + r.gguf_suffix);
            used.insert(prefix + r.gguf_suffix);
        }
    }
    // A tensor wkv would not read means the file's model computes something wkv does not
    // (Llama 3.1's rope_freqs, biases): refused, as llama.cpp refuses it, never ignored.
    for (const GgufTensorInfo& t : g.tensors) {
        if (!used.count(t.name))
            fail(m.path, "tensor " + quoted(t.name) + " is not part of the models wkv runs (it would be ignored)");
    }

    m.embedded_tokenizer_kind = meta.text("tokenizer.ggml.model").value_or("");
    m.chat_template = meta.text("tokenizer.chat_template").value_or("");
    // A kind wkv cannot read is refused only if the run needs it (tokenizer_for): -t may replace it.
    if (m.embedded_tokenizer_kind == "llama" || m.embedded_tokenizer_kind == "gpt2") {
        m.vocabulary = read_gguf_vocabulary(g, m.path, c.vocab_size);
    }
}

}  // namespace wkv
