// What each decoder layer of a model does, and what comes before the first and
// after the last, as data made once from the model's config. The CPU reference
// and the device recorder each interpret it, so that a variant of the Llama
// layer is a field here and the loader's keys, not a branch in each engine:
// SmolLM3's layers without RoPE are a layer whose RoPE does not rotate, and
// Granite's multipliers are the scales below, and Gemma 3's sliding-window
// layers are a window whose cache holds exactly that (CacheSettings::layer).
#pragma once

#include <string>
#include <vector>

#include "config.hpp"

namespace wkv {

struct LayerPlan {
    RopeParams rope;              // how Q and K are rotated (rope.rotates false: not at all)
    double attention_scale;       // multiplies q.k: 1/sqrt(head_dim), or the model's own
    float residual_scale = 1.0f;  // multiplies the attention's and the FFN's output before each residual add
    bool qkv_bias = false;        // Q, K and V have biases
    bool qk_norm = false;         // each Q and K head is RMS-normed before RoPE
    uint32_t window = 0;          // attends to the last `window` positions only (0: all); its cache holds them
    bool post_norms = false;      // the attention's and the FFN's outputs are RMS-normed before each residual add
    Activation activation = Activation::silu;  // of the FFN's gate
};

struct ModelPlan {
    float embedding_scale = 1.0f;  // multiplies the token's embedding
    float logit_scale = 1.0f;      // divides the logits
    float logit_softcap = 0.0f;    // then logits = cap * tanh(logits / cap), where > 0
    std::vector<LayerPlan> layers;

    // Whether nothing before, between or after the layers scales (a Llama 2 as it was).
    bool unscaled() const { return embedding_scale == 1.0f && logit_scale == 1.0f && logit_softcap == 0.0f; }
};

// The plan of a model with config `c` for a run whose sequences hold up to `run_positions`
// positions (CacheSettings::positions_held; LongRoPE takes its long factors above the
// model's original context, as llama.cpp does for a context that long). Its RoPE frequency
// factors are referenced, not copied: `c` must outlive the plan.
ModelPlan model_plan(const ModelConfig& c, uint32_t run_positions = 0);

// For `wkv info`: a line for the scales around the layers (if any), then a line per run
// of layers that do the same ("layers 0-2: RoPE theta 2e+06 norm; q.k x 0.125").
std::vector<std::string> describe(const ModelPlan& plan);

}  // namespace wkv
