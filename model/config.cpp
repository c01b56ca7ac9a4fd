#include "config.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "error.hpp"

namespace wkv {

namespace {

// Generous upper limits: far above any Llama-2-family model (70B has dim 8192,
// 80 layers, 64 heads, vocab 32000), low enough that products of them cannot
// overflow 64 bits and a corrupted header is caught before any allocation.
constexpr uint32_t kMaxDim = 1u << 16;
constexpr uint32_t kMaxHidden = 1u << 18;
constexpr uint32_t kMaxLayers = 1024;
constexpr uint32_t kMaxHeads = 1024;
constexpr uint32_t kMaxVocab = 1u << 20;
constexpr uint32_t kMaxContext = 1u << 22;

void check_range(const std::string& path, const char* name, uint32_t value, uint32_t max) {
    if (value == 0 || value > max) {
        fail(path,
             std::string(name) + " = " + std::to_string(value) + " is out of range (1.." + std::to_string(max) + ")");
    }
}

}  // namespace

void validate_config(const ModelConfig& c, const std::string& path) {
    check_range(path, "dim", c.dim, kMaxDim);
    check_range(path, "hidden_dim", c.hidden_dim, kMaxHidden);
    check_range(path, "n_layers", c.n_layers, kMaxLayers);
    check_range(path, "n_heads", c.n_heads, kMaxHeads);
    check_range(path, "n_kv_heads", c.n_kv_heads, kMaxHeads);
    check_range(path, "vocab_size", c.vocab_size, kMaxVocab);
    check_range(path, "context", c.context, kMaxContext);
    if (c.key_length == 0 && c.dim % c.n_heads != 0) {
        fail(path, "dim " + std::to_string(c.dim) + " is not a multiple of n_heads " + std::to_string(c.n_heads));
    }
    if (c.key_length > kMaxDim) check_range(path, "key_length", c.key_length, kMaxDim);
    if (c.n_heads % c.n_kv_heads != 0) {
        fail(path, "n_heads " + std::to_string(c.n_heads) + " is not a multiple of n_kv_heads " +
                       std::to_string(c.n_kv_heads));
    }
    if (c.head_dim() % 2 != 0) fail(path, "head size " + std::to_string(c.head_dim()) + " is odd (RoPE rotates pairs)");
    if (!(std::isfinite(c.rope_theta) && c.rope_theta > 1.0f)) {
        fail(path, "rope theta " + std::to_string(c.rope_theta) + " is not a finite number > 1");
    }
    if (!(std::isfinite(c.rms_eps) && c.rms_eps > 0.0f && c.rms_eps < 1.0f)) {
        fail(path, "rms epsilon " + std::to_string(c.rms_eps) + " is not in (0, 1)");
    }
}

std::string describe(const ModelConfig& c) {
    std::string out = "dim=" + std::to_string(c.dim) + " hidden=" + std::to_string(c.hidden_dim) +
                      " layers=" + std::to_string(c.n_layers) + " heads=" + std::to_string(c.n_heads) +
                      " kv_heads=" + std::to_string(c.n_kv_heads) + " vocab=" + std::to_string(c.vocab_size) +
                      " context=" + std::to_string(c.context);
    if (c.key_length) out += " head_dim=" + std::to_string(c.key_length);
    if (c.rope_style == RopeStyle::neox) out += " rope=neox";
    if (!c.rope_freq_factors.empty()) out += " rope_freq_factors";
    if (c.qkv_bias) out += " qkv_bias";
    if (c.qk_norm) out += " qk_norm";
    if (c.no_rope_period) out += " no_rope_every=" + std::to_string(c.no_rope_period);
    if (c.post_norms) out += " post_norms";
    if (c.activation == Activation::gelu_tanh) out += " gelu";
    if (c.activation == Activation::gelu_tanh_f16) out += " gelu_f16_table";
    uint32_t windowed = 0, window = 0;
    for (uint32_t l = 0; l < c.n_layers; l++) {
        windowed += c.window(l) ? 1 : 0;
        window = std::max(window, c.window(l));
    }
    if (windowed) {
        out += " sliding_window=" + std::to_string(window) + " in " + std::to_string(windowed) + " of " +
               std::to_string(c.n_layers) + " layers";
    }
    if (c.logit_softcap > 0.0f) out += " logit_softcap=" + std::to_string(c.logit_softcap);
    if (c.embedding_scale != 1.0f || c.attention_scale != 0.0f || c.residual_scale != 1.0f || c.logit_scale != 1.0f) {
        char buf[128];
        std::snprintf(buf, sizeof buf, " scales(embedding=%g attention=%g residual=%g logit=%g)", c.embedding_scale,
                      c.attention_scale, c.residual_scale, c.logit_scale);
        out += buf;
    }
    return out;
}

}  // namespace wkv
