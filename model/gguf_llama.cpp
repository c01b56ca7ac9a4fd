// A Llama model (general.architecture = "llama") from a GGUF file: the
// hyper-parameters from llama.* metadata, the weights by llama.cpp's tensor
// names, and the vocabulary from tokenizer.ggml.* when the file embeds one.
#include <cmath>
#include <cstdio>
#include <map>

#include "checked_math.hpp"
#include "error.hpp"
#include "gguf.hpp"
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

bool is_integer_type(GgufValueType t) {
    switch (t) {
        case GgufValueType::u8:
        case GgufValueType::i8:
        case GgufValueType::u16:
        case GgufValueType::i16:
        case GgufValueType::u32:
        case GgufValueType::i32:
        case GgufValueType::u64:
        case GgufValueType::i64: return true;
        default: return false;
    }
}

class LlamaMetadata {
public:
    LlamaMetadata(const GgufFile& g, const std::string& path) : g_(g), path_(path) {}

    std::optional<uint32_t> u32(const std::string& key) const {
        const GgufValue* v = g_.find(key);
        if (!v) return std::nullopt;
        if (!is_integer_type(v->type) || v->number < 0 || v->number > 4294967295.0) {
            fail(path_, "metadata " + quoted(key) + " is not an unsigned 32-bit integer");
        }
        return static_cast<uint32_t>(v->number);
    }
    uint32_t required_u32(const std::string& key) const {
        auto v = u32(key);
        if (!v) fail(path_, "metadata " + quoted(key) + " is missing");
        return *v;
    }
    std::optional<float> f32(const std::string& key) const {
        const GgufValue* v = g_.find(key);
        if (!v) return std::nullopt;
        if (v->type != GgufValueType::f32 && v->type != GgufValueType::f64) {
            fail(path_, "metadata " + quoted(key) + " is not a float");
        }
        return static_cast<float>(v->number);
    }
    std::optional<bool> boolean(const std::string& key) const {
        const GgufValue* v = g_.find(key);
        if (!v) return std::nullopt;
        if (v->type != GgufValueType::boolean) fail(path_, "metadata " + quoted(key) + " is not a boolean");
        return v->number != 0;
    }
    std::optional<std::string> text(const std::string& key) const {
        const GgufValue* v = g_.find(key);
        if (!v) return std::nullopt;
        if (v->type != GgufValueType::string) fail(path_, "metadata " + quoted(key) + " is not a string");
        return v->text;
    }

private:
    const GgufFile& g_;
    const std::string& path_;
};

std::optional<Vocabulary> read_vocabulary(const GgufFile& g, const LlamaMetadata& meta, const std::string& path,
                                          uint32_t vocab_size) {
    const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
    if (!tokens) return std::nullopt;
    if (tokens->type != GgufValueType::array || tokens->element_type != GgufValueType::string) {
        fail(path, "metadata 'tokenizer.ggml.tokens' is not an array of strings");
    }
    if (tokens->strings.size() != vocab_size) {
        fail(path, "tokenizer.ggml.tokens has " + std::to_string(tokens->strings.size()) +
                       " entries but the embedding has " + std::to_string(vocab_size) + " rows");
    }
    Vocabulary v;
    for (const std::string& piece : tokens->strings) v.pieces.push_back(with_plain_spaces(piece));
    v.scores.assign(vocab_size, 0.0f);
    v.types.assign(vocab_size, PieceType::normal);
    if (const GgufValue* scores = g.find("tokenizer.ggml.scores")) {
        if (scores->type != GgufValueType::array || scores->numbers.size() != vocab_size) {
            fail(path, "tokenizer.ggml.scores is not an array of " + std::to_string(vocab_size) + " numbers");
        }
        for (uint32_t i = 0; i < vocab_size; i++) v.scores[i] = static_cast<float>(scores->numbers[i]);
    }
    if (const GgufValue* types = g.find("tokenizer.ggml.token_type")) {
        if (types->type != GgufValueType::array || types->numbers.size() != vocab_size) {
            fail(path, "tokenizer.ggml.token_type is not an array of " + std::to_string(vocab_size) + " numbers");
        }
        for (uint32_t i = 0; i < vocab_size; i++) {
            const double t = types->numbers[i];
            if (!(t >= 1 && t <= 6)) fail(path, "tokenizer.ggml.token_type[" + std::to_string(i) + "] is not 1..6");
            v.types[i] = static_cast<PieceType>(static_cast<int32_t>(t));
        }
    }
    auto token_id = [&](const char* key, int32_t fallback) -> int32_t {
        const uint32_t id = meta.u32(key).value_or(static_cast<uint32_t>(fallback));
        if (id >= vocab_size) fail(path, std::string(key) + " = " + std::to_string(id) + " is not a token id");
        return static_cast<int32_t>(id);
    };
    v.bos_id = token_id("tokenizer.ggml.bos_token_id", 1);
    v.eos_id = token_id("tokenizer.ggml.eos_token_id", 2);
    v.unk_id = token_id("tokenizer.ggml.unknown_token_id", 0);
    v.add_bos = meta.boolean("tokenizer.ggml.add_bos_token").value_or(true);
    v.add_eos = meta.boolean("tokenizer.ggml.add_eos_token").value_or(false);
    return v;
}

// Linear RoPE scaling (llama.rope.scaling.type = linear with .factor, or the
// older llama.rope.scale_linear) as the factor positions are multiplied by.
// Any other scaling (YaRN, LongRoPE, ...) changes the math in ways wkv does
// not implement, so it is an error.
float rope_position_scale(const LlamaMetadata& meta, const std::string& path) {
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
    const LlamaMetadata meta(g, m.path);
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
    for (uint32_t l = 0; l < c.n_layers; l++) {
        const std::string prefix = "blk." + std::to_string(l) + ".";
        for (const LayerTensorRole& r : layer_tensor_roles()) m.layers[l].*r.member = *view(prefix + r.gguf_suffix);
    }

    m.embedded_tokenizer_kind = meta.text("tokenizer.ggml.model").value_or("");
    m.chat_template = meta.text("tokenizer.chat_template").value_or("");
    if (m.embedded_tokenizer_kind == "llama") m.vocabulary = read_vocabulary(g, meta, m.path, c.vocab_size);
}

}  // namespace wkv
