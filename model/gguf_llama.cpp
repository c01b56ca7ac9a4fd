// A model of the Llama family (general.architecture "llama", "qwen2", "qwen3",
// "phi3", "smollm3", "granite" or "gemma3") from a GGUF file: the hyper-parameters from <arch>.*
// metadata, the architecture's variants (RoPE style, biases, Q/K norms, head
// size, RoPE frequency factors, layers without RoPE, Granite's multipliers),
// the weights by llama.cpp's tensor names, and the vocabulary from
// tokenizer.ggml.* when the file embeds one.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <span>

#include "checked_math.hpp"
#include "error.hpp"
#include "gguf.hpp"
#include "gguf_split.hpp"
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

// A tensor that holds several roles' rows one after another (Phi-3's attn_qkv: Wq, Wk, Wv).
struct FusedTensor {
    const char* gguf_suffix;
    std::array<TensorView LayerWeights::*, 3> parts;  // in row order; null past the last
};
constexpr FusedTensor kPhi3Fused[] = {
    {"attn_qkv.weight", {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv}},
    {"ffn_up.weight", {&LayerWeights::w1, &LayerWeights::w3, nullptr}},  // the gate's rows, then the up rows
};

// The architectures wkv runs: the Llama decoder layer and its variants.
struct Architecture {
    const char* name;  // general.architecture
    RopeStyle rope_style = RopeStyle::norm;
    bool qkv_bias = false, qk_norm = false;
    uint32_t no_rope_period = 0;  // layers l with (l + 1) % period == 0 have no RoPE (fixed by the architecture)
    bool multipliers = false;     // <arch>.embedding_scale, .attention.scale, .residual_scale, .logit_scale
    std::span<const FusedTensor> fused = {};  // tensors that hold several roles
    // Gemma 3: embeddings times sqrt(dim), post-norms, a GELU gate, sliding-window layers
    // (<arch>.attention.sliding_window*, .rope.freq_base_swa) and final_logit_softcapping.
    bool gemma = false;
};

constexpr Architecture kArchitectures[] = {
    {.name = "llama"},                                                     // Llama 1-3, Mistral 7B, SmolLM2
    {.name = "qwen2", .rope_style = RopeStyle::neox, .qkv_bias = true},    // Qwen2, Qwen2.5, R1-Distill-Qwen
    {.name = "qwen3", .rope_style = RopeStyle::neox, .qk_norm = true},     // Qwen3 (dense)
    {.name = "phi3", .rope_style = RopeStyle::neox, .fused = kPhi3Fused},  // Phi-3, Phi-3.5-mini, Phi-4-mini
    {.name = "smollm3", .no_rope_period = 4},  // SmolLM3: no RoPE in every fourth layer, as llama.cpp fixes it
    {.name = "granite", .multipliers = true},  // Granite 3.x dense
    {.name = "gemma3", .rope_style = RopeStyle::neox, .qk_norm = true, .gemma = true},  // Gemma 3 (1B-27B, text)
};

// Gemma 3's sliding-window layers, as llama.cpp reads them: <arch>.attention.sliding_window
// (W) and .sliding_window_pattern, a number n (layer l is windowed when l % n < n - 1, so the
// last of every n is global; 6 when absent) or an array of a boolean per layer (true: windowed).
std::vector<uint32_t> sliding_windows(const GgufFile& g, const GgufMetadata& meta, const std::string& key,
                                      uint32_t n_layers, const std::string& path) {
    const std::optional<uint32_t> window = meta.u32(key + "attention.sliding_window");
    if (!window) return {};  // every layer global
    if (*window < 2 || *window > (1u << 22)) fail(path, key + "attention.sliding_window is not in 2..4194304");
    std::vector<uint32_t> windows(n_layers, 0);
    const std::string pattern_key = key + "attention.sliding_window_pattern";
    const GgufValue* pattern = g.find(pattern_key);
    if (pattern && pattern->type == GgufValueType::array) {
        if (pattern->count != n_layers || pattern->numbers.size() != n_layers)
            fail(path, pattern_key + " has " + std::to_string(pattern->count) + " values; one per layer (" +
                           std::to_string(n_layers) + ") expected");
        for (uint32_t l = 0; l < n_layers; l++) windows[l] = pattern->numbers[l] != 0 ? *window : 0;
        return windows;
    }
    const uint32_t n = meta.u32(pattern_key).value_or(6);
    for (uint32_t l = 0; l < n_layers; l++) windows[l] = (n == 0 || l % n < n - 1) ? *window : 0;
    return windows;
}

// One of Granite's multipliers: required, finite and positive.
float multiplier(const GgufMetadata& meta, const std::string& key, const std::string& path) {
    const std::optional<float> v = meta.f32(key);
    if (!v) fail(path, key + " is missing");
    if (!(std::isfinite(*v) && *v > 0.0f && *v < 1e6f)) fail(path, key + " is not a positive number below 1e6");
    return *v;
}

const Architecture* find_architecture(const std::string& name) {
    for (const Architecture& a : kArchitectures) {
        if (name == a.name) return &a;
    }
    return nullptr;
}

std::string architecture_names() {
    std::string out;
    for (const Architecture& a : kArchitectures) out += (out.empty() ? "'" : ", '") + std::string(a.name) + "'";
    return out;
}

// Linear RoPE scaling (<arch>.rope.scaling.type = linear with .factor, or the
// older <arch>.rope.scale_linear) as the factor positions are multiplied by.
// Any other scaling (YaRN, LongRoPE, ...) changes the math in ways wkv does
// not implement, so it is an error.
float rope_position_scale(const GgufMetadata& meta, const std::string& key, const std::string& path) {
    const std::string type = meta.text(key + "rope.scaling.type").value_or("none");
    std::optional<float> factor = meta.f32(key + "rope.scale_linear");
    if (type == "linear") {
        factor = meta.f32(key + "rope.scaling.factor");
        if (!factor) fail(path, key + "rope.scaling.type is 'linear' but " + key + "rope.scaling.factor is missing");
    } else if (type != "none") {
        fail(path, key + "rope.scaling.type is " + quoted(type) + ": only linear RoPE scaling is supported");
    }
    if (!factor) return 1.0f;
    if (!(*factor >= 1.0f && *factor <= 1024.0f)) {
        fail(path, "RoPE scaling factor " + std::to_string(*factor) + " is outside 1..1024");
    }
    return 1.0f / *factor;
}

// RoPE frequency factors (Llama 3.1's rope_freqs.weight, Phi-3's rope_factors_long/short):
// one divisor per pair of a head's rotated dimensions.
std::vector<float> rope_factors(const TensorView& t, uint32_t rotated_dims, const std::string& path) {
    if (t.rows != 1 || t.cols != rotated_dims / 2) {
        fail(path, "tensor " + quoted(t.name) + " has " + std::to_string(t.rows * t.cols) +
                       " values; rotated dimensions / 2 = " + std::to_string(rotated_dims / 2) + " expected");
    }
    if (t.type != TensorType::f32 && t.type != TensorType::f16)
        fail(path, "tensor " + quoted(t.name) + " is not f32 or f16");
    std::vector<float> factors(t.cols);
    dequantize_row(t, 0, factors.data());
    for (float f : factors) {
        if (!(std::isfinite(f) && f > 0.0f))
            fail(path, "tensor " + quoted(t.name) + " has a factor that is not a positive number");
    }
    return factors;
}

// Rows [first, first + rows) of `t`, as a tensor of its own named `name` (rows are whole blocks).
TensorView row_range(const TensorView& t, uint64_t first, uint64_t rows, const std::string& name) {
    TensorView part = t;
    part.name = name;
    part.rows = rows;
    part.data = t.data + first * tensor_bytes(t.name, t.type, 1, t.cols);
    return part;
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
    const std::vector<GgufPart> parts = further_split_parts(m.file, g, m.parts);  // a split model's others
    for (const auto& [key, value] : g.metadata) m.metadata.emplace_back(one_line(key), render(value));
    const std::string name = meta.text("general.architecture").value_or("");
    const Architecture* arch = find_architecture(name);
    if (!arch) fail(m.path, "general.architecture is " + quoted(name) + "; wkv runs " + architecture_names());
    const std::string key = name + ".";  // the architecture's metadata: llama.*, qwen2.*, ...

    // Every tensor by name, with the file that holds it.
    struct Located {
        const GgufTensorInfo* info;
        const MappedFile* file;
        uint64_t data_offset;
    };
    std::map<std::string, Located> by_name;
    for (const GgufTensorInfo& t : g.tensors) by_name[t.name] = {&t, &m.file, g.data_offset};
    for (const GgufPart& part : parts) {
        for (const GgufTensorInfo& t : part.gguf.tensors) by_name[t.name] = {&t, part.file, part.gguf.data_offset};
    }
    auto view = [&](const std::string& name, bool required = true) -> std::optional<TensorView> {
        auto it = by_name.find(name);
        if (it == by_name.end()) {
            if (required) fail(m.path, "tensor " + quoted(name) + " is missing");
            return std::nullopt;
        }
        const GgufTensorInfo& info = *it->second.info;
        const MappedFile& file = *it->second.file;
        const WeightType* type = weight_type_by_ggml_id(info.ggml_type);
        if (!type) {
            fail(file.path(), "tensor " + quoted(name) + " has unsupported tensor type " +
                                  ggml_type_name(info.ggml_type) + " (" + std::to_string(info.ggml_type) +
                                  "); supported: " + weight_type_list());
        }
        // GGUF lists the fastest-varying dimension first: [cols, rows].
        if (info.dims.size() > 2) fail(file.path(), "tensor " + quoted(name) + " has more than 2 dimensions");
        TensorView t;
        t.name = name;
        t.type = type->type;
        t.cols = info.dims[0];
        t.rows = info.dims.size() == 2 ? info.dims[1] : 1;
        const uint64_t bytes = tensor_bytes(file.path() + ": tensor " + quoted(name), t.type, t.rows, t.cols);
        const auto begin = checked_add(it->second.data_offset, info.offset);
        const auto end = begin ? checked_add(*begin, bytes) : std::nullopt;
        if (!end || *end > file.size()) {
            fail(file.path(), "truncated: tensor " + quoted(name) + " data at offset " + std::to_string(info.offset) +
                                  " (" + std::to_string(bytes) + " bytes) lies past the end of the file");
        }
        t.data = file.data() + *begin;
        return t;
    };

    ModelConfig& c = m.config;
    c.dim = meta.required_u32(key + "embedding_length");
    c.hidden_dim = meta.required_u32(key + "feed_forward_length");
    c.n_layers = meta.required_u32(key + "block_count");
    c.n_heads = meta.required_u32(key + "attention.head_count");
    c.n_kv_heads = meta.u32(key + "attention.head_count_kv").value_or(c.n_heads);
    c.context = meta.required_u32(key + "context_length");
    c.rope_theta = meta.f32(key + "rope.freq_base").value_or(10000.0f);
    c.rms_eps = meta.f32(key + "attention.layer_norm_rms_epsilon").value_or(1e-5f);
    c.rope_scale = rope_position_scale(meta, key, m.path);
    c.rope_style = arch->rope_style;
    c.qkv_bias = arch->qkv_bias;
    c.qk_norm = arch->qk_norm;
    c.no_rope_period = arch->no_rope_period;
    if (arch->multipliers) {
        c.embedding_scale = multiplier(meta, key + "embedding_scale", m.path);
        c.attention_scale = multiplier(meta, key + "attention.scale", m.path);
        c.residual_scale = multiplier(meta, key + "residual_scale", m.path);
        c.logit_scale = multiplier(meta, key + "logit_scale", m.path);
    }
    if (arch->gemma) {
        c.embedding_scale = std::sqrt(static_cast<float>(c.dim));  // in f32, as llama.cpp scales them
        c.post_norms = true;
        c.activation = Activation::gelu_tanh;
        c.layer_windows = sliding_windows(g, meta, key, c.n_layers, m.path);
        c.rope_theta_window = meta.f32(key + "rope.freq_base_swa").value_or(10000.0f);
        if (!(std::isfinite(c.rope_theta_window) && c.rope_theta_window > 1.0f))
            fail(m.path, key + "rope.freq_base_swa is not a finite number > 1");
        c.logit_softcap = meta.f32(key + "final_logit_softcapping").value_or(0.0f);
        if (!(std::isfinite(c.logit_softcap) && c.logit_softcap >= 0.0f && c.logit_softcap < 1e6f))
            fail(m.path, key + "final_logit_softcapping is not a number in 0..1e6");
    }
    // Metadata that changes the math in ways not implemented: refused, never ignored.
    if (meta.u32(key + "expert_count").value_or(0) > 0) {
        fail(m.path, key + "expert_count > 0: mixture-of-experts models are not supported");
    }
    const std::optional<uint32_t> key_length = meta.u32(key + "attention.key_length");
    const std::optional<uint32_t> value_length = meta.u32(key + "attention.value_length");
    if (key_length.value_or(0) != value_length.value_or(key_length.value_or(0))) {
        fail(m.path, key + "attention.key_length " + std::to_string(*key_length) + " differs from value_length " +
                         std::to_string(*value_length) + " (not supported)");
    }
    if (key_length && c.n_heads && *key_length != c.dim / c.n_heads) c.key_length = *key_length;  // Qwen3, Gemma 3
    // Gemma 3 scales q.k by 1/sqrt(head size), its 27B (62 layers, as llama.cpp tells it) by 1/sqrt(dim / heads).
    if (arch->gemma && c.n_layers == 62 && c.n_heads) c.attention_scale = 1.0f / std::sqrt(float(c.dim / c.n_heads));
    m.token_embedding = *view("token_embd.weight");
    c.vocab_size = static_cast<uint32_t>(std::min<uint64_t>(m.token_embedding.rows, UINT32_MAX));
    validate_config(c, m.path);
    if (auto rope_dims = meta.u32(key + "rope.dimension_count"); rope_dims && *rope_dims != c.head_dim()) {
        if (*rope_dims == 0 || *rope_dims > c.head_dim() || *rope_dims % 2 != 0) {
            fail(m.path, key + "rope.dimension_count " + std::to_string(*rope_dims) +
                             " is not an even number of dimensions up to the head size " +
                             std::to_string(c.head_dim()));
        }
        c.rope_dims = *rope_dims;  // partial rotary (Phi-3): the rest of each head is not rotated
    }
    c.rope_attn_factor = meta.f32(key + "rope.scaling.attn_factor").value_or(1.0f);
    if (!(std::isfinite(c.rope_attn_factor) && c.rope_attn_factor > 0.0f && c.rope_attn_factor < 100.0f))
        fail(m.path, key + "rope.scaling.attn_factor is not a positive number below 100");

    for (const ModelTensorRole& r : model_tensor_roles()) {
        const std::optional<TensorView> t = view(r.gguf_name, !r.optional);
        if (t) {
            m.*r.member = *t;
        } else if (r.fallback) {
            m.*r.member = m.*r.fallback;  // the classifier left out: it reads the embedding table
        }
    }
    if (m.rope_freqs.data) c.rope_freq_factors = rope_factors(m.rope_freqs, c.rotated_dims(), m.path);
    if (m.rope_factors_long.data || m.rope_factors_short.data) {  // LongRoPE
        if (!m.rope_factors_long.data || !m.rope_factors_short.data)
            fail(m.path, "LongRoPE needs both rope_factors_long.weight and rope_factors_short.weight");
        c.rope_factors_long = rope_factors(m.rope_factors_long, c.rotated_dims(), m.path);
        c.rope_factors_short = rope_factors(m.rope_factors_short, c.rotated_dims(), m.path);
        const std::optional<uint32_t> original = meta.u32(key + "rope.scaling.original_context_length");
        if (!original) fail(m.path, "LongRoPE needs " + key + "rope.scaling.original_context_length, which is missing");
        c.rope_original_context = *original;
    }
    m.layers.resize(c.n_layers);
    std::set<std::string> used;
    for (const ModelTensorRole& r : model_tensor_roles()) used.insert(r.gguf_name);
    for (uint32_t l = 0; l < c.n_layers; l++) {
        const std::string prefix = "blk." + std::to_string(l) + ".";
        // Fused tensors first: each is split into the roles it holds, by the shapes the table gives them.
        std::vector<TensorView LayerWeights::*> from_fused;
        for (const FusedTensor& f : arch->fused) {
            const TensorView whole = *view(prefix + f.gguf_suffix);
            uint64_t first = 0;
            for (TensorView LayerWeights::*member : f.parts) {
                if (!member) break;
                const LayerTensorRole& r = *std::find_if(layer_tensor_roles().begin(), layer_tensor_roles().end(),
                                                         [&](const LayerTensorRole& x) { return x.member == member; });
                const TensorShape shape = r.shape(c);
                if (whole.cols != shape.cols || first + shape.rows > whole.rows) {
                    fail(m.path, "tensor " + quoted(whole.name) + " is [" + std::to_string(whole.rows) + "][" +
                                     std::to_string(whole.cols) + "]; it cannot hold " + r.gguf_suffix + " [" +
                                     std::to_string(shape.rows) + "][" + std::to_string(shape.cols) + "]");
                }
                m.layers[l].*member = row_range(whole, first, shape.rows, whole.name + "/" + r.gguf_suffix);
                first += shape.rows;
                from_fused.push_back(member);
            }
            if (first != whole.rows) {
                fail(m.path, "tensor " + quoted(whole.name) + " has " + std::to_string(whole.rows) + " rows; " +
                                 std::to_string(first) + " expected");
            }
            used.insert(prefix + f.gguf_suffix);
        }
        for (const LayerTensorRole& r : layer_tensor_roles()) {
            const bool fused = std::find(from_fused.begin(), from_fused.end(), r.member) != from_fused.end();
            if (!has_role(r, c) || fused) continue;  // not this architecture's: refused below if the file has it
            m.layers[l].*r.member = *view(prefix + r.gguf_suffix);
            used.insert(prefix + r.gguf_suffix);
        }
    }
    // A tensor wkv would not read means the file's model computes something wkv does not
    // (Llama 3.1's rope_freqs, biases): refused, as llama.cpp refuses it, never ignored.
    for (const auto& [name, located] : by_name) {
        if (!used.count(name))
            fail(located.file->path(),
                 "tensor " + quoted(name) + " is not part of the models wkv runs (it would be ignored)");
    }

    m.embedded_tokenizer_kind = meta.text("tokenizer.ggml.model").value_or("");
    m.chat_template = meta.text("tokenizer.chat_template").value_or("");
    // A kind wkv cannot read is refused only if the run needs it (tokenizer_for): -t may replace it.
    if (m.embedded_tokenizer_kind == "llama" || m.embedded_tokenizer_kind == "gpt2") {
        m.vocabulary = read_gguf_vocabulary(g, m.path, c.vocab_size);
    }
}

}  // namespace wkv
