// Hyper-parameters of a Llama-2-architecture model, whatever file it came from.
#pragma once

#include <cstdint>
#include <string>

namespace wkv {

// RoPE: the base of its frequencies, and linear position scaling (a model
// fine-tuned for a longer context sees every position multiplied by `scale`,
// 1 / llama.rope.scaling.factor).
struct RopeParams {
    float theta = 10000.0f;
    float scale = 1.0f;
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

    uint32_t head_dim() const { return dim / n_heads; }
    uint32_t kv_dim() const { return n_kv_heads * head_dim(); }
    uint32_t group_size() const { return n_heads / n_kv_heads; }  // query heads per KV head
    RopeParams rope() const { return {rope_theta, rope_scale}; }
};

// Rejects zero, absurd or inconsistent values; `path` names the file in the message.
void validate_config(const ModelConfig& c, const std::string& path);

std::string describe(const ModelConfig& c);  // one line, for --verbose and errors

}  // namespace wkv
