#include "layer_plan.hpp"

#include <cmath>
#include <cstdio>

namespace wkv {

ModelPlan model_plan(const ModelConfig& c, uint32_t run_positions) {
    ModelPlan plan;
    plan.embedding_scale = c.embedding_scale;
    plan.logit_scale = c.logit_scale;
    plan.logit_softcap = c.logit_softcap;
    const double default_scale = 1.0 / std::sqrt(static_cast<double>(c.head_dim()));
    for (uint32_t l = 0; l < c.n_layers; l++) {
        LayerPlan layer;
        layer.rope = c.rope();
        if (!c.rope_factors_long.empty() && !layer.rope.freq_factors) {  // LongRoPE
            const bool long_run = run_positions > c.rope_original_context;
            layer.rope.freq_factors = long_run ? c.rope_factors_long.data() : c.rope_factors_short.data();
        }
        // SmolLM3: every `no_rope_period`-th layer attends without positions.
        layer.rope.rotates = !(c.no_rope_period && (l + 1) % c.no_rope_period == 0);
        layer.window = c.window(l);
        if (layer.window) {  // Gemma 3: a window layer rotates with its own base, unscaled
            layer.rope.theta = c.rope_theta_window;
            layer.rope.scale = 1.0f;
        }
        layer.attention_scale = c.attention_scale > 0.0f ? c.attention_scale : default_scale;
        layer.residual_scale = c.residual_scale;
        layer.qkv_bias = c.qkv_bias;
        layer.qk_norm = c.qk_norm;
        layer.post_norms = c.post_norms;
        layer.activation = c.activation;
        plan.layers.push_back(layer);
    }
    return plan;
}

namespace {

std::string number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string describe(const LayerPlan& l) {
    std::string out;
    if (!l.rope.rotates) {
        out = "no RoPE";
    } else {
        out = "RoPE theta " + number(l.rope.theta) + (l.rope.style == RopeStyle::neox ? " neox" : " norm");
        if (l.rope.scale != 1.0f) out += " scale " + number(l.rope.scale);
        if (l.rope.dims) out += " over " + std::to_string(l.rope.dims) + " dimensions";
        if (l.rope.freq_factors) out += " with frequency factors";
        if (l.rope.attn_factor != 1.0f) out += " x " + number(l.rope.attn_factor);
    }
    out += "; q.k x " + number(l.attention_scale);
    if (l.residual_scale != 1.0f) out += "; residual x " + number(l.residual_scale);
    if (l.qkv_bias) out += "; Q/K/V biases";
    if (l.qk_norm) out += "; Q/K head norms";
    if (l.post_norms) out += "; post-norms";
    if (l.activation == Activation::gelu_tanh) out += "; GELU gate";
    if (l.activation == Activation::gelu_tanh_f16) out += "; GELU gate (llama.cpp's f16 table)";
    if (l.window) out += "; sliding window of " + std::to_string(l.window);
    return out;
}

}  // namespace

std::vector<std::string> describe(const ModelPlan& plan) {
    std::vector<std::string> lines;
    if (!plan.unscaled())
        lines.push_back("embeddings x " + number(plan.embedding_scale) + ", logits / " + number(plan.logit_scale) +
                        (plan.logit_softcap > 0 ? ", soft-capped at " + number(plan.logit_softcap) : ""));
    for (size_t first = 0; first < plan.layers.size();) {
        const std::string what = describe(plan.layers[first]);
        size_t last = first;
        while (last + 1 < plan.layers.size() && describe(plan.layers[last + 1]) == what) last++;
        lines.push_back("layer" + std::string(last > first ? "s " : " ") + std::to_string(first) +
                        (last > first ? "-" + std::to_string(last) : "") + ": " + what);
        first = last + 1;
    }
    return lines;
}

}  // namespace wkv
