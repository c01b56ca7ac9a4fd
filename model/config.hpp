// Hyper-parameters of a Llama-2-architecture model, whatever file it came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wkv {

// The feed-forward block's gate: silu(gate) * up (SwiGLU), or gelu(gate) * up
// with GELU's tanh form (Gemma's GeGLU). gelu_tanh_f16 is that GELU as
// llama.cpp's CPU backend computes it, through a table of 65536 f16 values: the
// input rounded to f16, the result rounded to f16, 0 at or below -10 and x at
// or above 10. No file asks for it; the tests that hold wkv to llama.cpp's
// Gemma 3 logits do, to show that this rounding is all that separates them.
enum class Activation { silu, gelu_tanh, gelu_tanh_f16 };

// How RoPE pairs a head's dimensions: `norm` rotates neighbours (2i, 2i + 1),
// as Llama does; `neox` rotates i with i + head_dim / 2, as Qwen does.
enum class RopeStyle { norm, neox };

// RoPE: the base of its frequencies, and linear position scaling (a model
// fine-tuned for a longer context sees every position multiplied by `scale`,
// 1 / llama.rope.scaling.factor); pair i's frequency is divided by
// freq_factors[i] where a model has them (Llama 3.1's rope_freqs, Phi-3's
// LongRoPE). Partial rotary (Phi-3): only the first `dims` dimensions of a
// head rotate (frequencies over `dims`), the rest pass as they are; a rotated
// pair's cos and sin are multiplied by `attn_factor` (LongRoPE's).
struct RopeParams {
    float theta = 10000.0f;
    float scale = 1.0f;
    RopeStyle style = RopeStyle::norm;
    const float* freq_factors = nullptr;  // dims / 2 of them, or none
    bool rotates = true;                  // false: every angle is 0, the rotation the identity (a layer without RoPE)
    uint32_t dims = 0;                    // dimensions that rotate; 0: the whole head
    float attn_factor = 1.0f;

    bool operator==(const RopeParams&) const = default;
};

struct ModelConfig {
    uint32_t dim = 0;         // residual stream width
    uint32_t hidden_dim = 0;  // SwiGLU inner width
    uint32_t n_layers = 0;
    uint32_t n_heads = 0;     // query heads
    uint32_t n_kv_heads = 0;  // key/value heads (GQA when < n_heads)
    uint32_t vocab_size = 0;
    uint32_t context = 0;  // trained context length, in tokens
    float rope_theta = 10000.0f;
    float rope_scale = 1.0f;  // linear RoPE scaling: positions are multiplied by this
    float rms_eps = 1e-5f;
    // The architecture's variants of the Llama decoder layer.
    uint32_t key_length = 0;                 // a head's size where it is not dim / n_heads (Qwen3); 0: it is
    RopeStyle rope_style = RopeStyle::norm;  // Qwen2 and Qwen3: neox
    std::vector<float> rope_freq_factors;    // Llama 3.1: head_dim / 2 divisors of RoPE's frequencies; empty: none
    uint32_t rope_dims = 0;                  // Phi-3: the dimensions of a head that rotate; 0: all of them
    // LongRoPE (Phi-3): frequency divisors for a run whose sequences hold more positions
    // than rope_original_context (long), or not (short); cos and sin times rope_attn_factor.
    std::vector<float> rope_factors_long, rope_factors_short;
    uint32_t rope_original_context = 0;
    float rope_attn_factor = 1.0f;
    bool qkv_bias = false;        // Qwen2: Q, K and V have biases
    bool qk_norm = false;         // Qwen3: each Q and K head is RMS-normed before RoPE
    uint32_t no_rope_period = 0;  // SmolLM3: layers l with (l + 1) % period == 0 have no RoPE; 0: none
    // Granite's multipliers (1, or 0 for the attention's, where a model has none).
    float embedding_scale = 1.0f;  // multiplies the embeddings
    float attention_scale = 0.0f;  // multiplies q.k instead of 1/sqrt(head_dim)
    float residual_scale = 1.0f;   // multiplies each block's output before its residual add
    float logit_scale = 1.0f;      // divides the logits
    // Gemma 3's variants.
    bool post_norms = false;  // an RMSNorm of the attention's and the FFN's output before each residual add
    Activation activation = Activation::silu;
    // Sliding-window layers: layer l attends only to the last layer_windows[l] positions, its
    // own included (0: to all, a global layer); empty: every layer is global. Window layers
    // rotate with base rope_theta_window and no scaling.
    std::vector<uint32_t> layer_windows;
    float rope_theta_window = 10000.0f;
    float logit_softcap = 0.0f;  // logits = cap * tanh(logits / cap) where > 0 (final_logit_softcapping)

    uint32_t head_dim() const { return key_length ? key_length : dim / n_heads; }
    uint32_t kv_dim() const { return n_kv_heads * head_dim(); }
    uint32_t group_size() const { return n_heads / n_kv_heads; }  // query heads per KV head
    uint32_t window(uint32_t layer) const { return layer < layer_windows.size() ? layer_windows[layer] : 0; }
    // A layer whose cache follows the chosen policy (the first global one), whose entries a
    // sequence's are said to be; layer 0 where every layer has a window.
    uint32_t global_layer() const {
        for (uint32_t l = 0; l < n_layers; l++)
            if (window(l) == 0) return l;
        return 0;
    }
    uint32_t rotated_dims() const { return rope_dims ? rope_dims : head_dim(); }
    RopeParams rope() const {
        return {rope_theta, rope_scale, rope_style,      rope_freq_factors.empty() ? nullptr : rope_freq_factors.data(),
                true,       rope_dims,  rope_attn_factor};
    }
};

// Rejects zero, absurd or inconsistent values; `path` names the file in the message.
void validate_config(const ModelConfig& c, const std::string& path);

std::string describe(const ModelConfig& c);  // one line, for --verbose and errors

}  // namespace wkv
