#include "reference.hpp"

#include <algorithm>
#include <cmath>

#include "error.hpp"

namespace wkv {

void matvec(float* out, const TensorView& w, const float* x, std::vector<float>& row_scratch) {
    row_scratch.resize(w.cols);
    for (uint64_t r = 0; r < w.rows; r++) {
        dequantize_row(w, r, row_scratch.data());
        double sum = 0.0;
        for (uint64_t c = 0; c < w.cols; c++) sum += static_cast<double>(row_scratch[c]) * x[c];
        out[r] = static_cast<float>(sum);
    }
}

void rmsnorm(float* out, const float* x, const float* weight, uint32_t n, float eps) {
    double sum_sq = 0.0;
    for (uint32_t i = 0; i < n; i++) sum_sq += static_cast<double>(x[i]) * x[i];
    const double scale = 1.0 / std::sqrt(sum_sq / n + eps);
    for (uint32_t i = 0; i < n; i++) out[i] = static_cast<float>(weight[i] * (x[i] * scale));
}

double rope_angle(uint32_t pos, uint32_t pair, uint32_t head_dim, const RopeParams& rope_params) {
    const uint32_t dims = rope_params.dims ? rope_params.dims : head_dim;
    if (!rope_params.rotates || pair >= dims / 2) return 0.0;  // cos 1, sin 0: the identity, exactly
    double freq = std::pow(static_cast<double>(rope_params.theta), -static_cast<double>(2 * pair) / dims);
    if (rope_params.freq_factors) freq /= rope_params.freq_factors[pair];
    return pos * static_cast<double>(rope_params.scale) * freq;
}

std::pair<double, double> rope_cos_sin(uint32_t pos, uint32_t pair, uint32_t head_dim, const RopeParams& rope_params) {
    const uint32_t dims = rope_params.dims ? rope_params.dims : head_dim;
    if (!rope_params.rotates || pair >= dims / 2) return {1.0, 0.0};
    const double angle = rope_angle(pos, pair, head_dim, rope_params), factor = rope_params.attn_factor;
    return {std::cos(angle) * factor, std::sin(angle) * factor};
}

void rope(float* head, uint32_t head_dim, uint32_t pos, const RopeParams& rope_params) {
    const uint32_t half = (rope_params.dims ? rope_params.dims : head_dim) / 2;
    for (uint32_t i = 0; i < half; i++) {
        const auto [c, s] = rope_cos_sin(pos, i, head_dim, rope_params);
        // The pair's two dimensions: neighbours, or one from each half of the rotated part (neox).
        float& x = head[rope_params.style == RopeStyle::neox ? i : 2 * i];
        float& y = head[rope_params.style == RopeStyle::neox ? i + half : 2 * i + 1];
        const double a = x, b = y;
        x = static_cast<float>(a * c - b * s);
        y = static_cast<float>(a * s + b * c);
    }
}

namespace {

// GELU in its tanh form: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
double gelu_tanh(double x) {
    constexpr double kSqrt2OverPi = 0.79788456080286535588;
    return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + 0.044715 * x * x * x)));
}

double through_f16(double x) { return f16_to_f32(f32_to_f16(static_cast<float>(x))); }

}  // namespace

double gate(Activation activation, double x) {
    switch (activation) {
        case Activation::silu: return x / (1.0 + std::exp(-x));
        case Activation::gelu_tanh: return gelu_tanh(x);
        case Activation::gelu_tanh_f16:
            if (x <= -10.0) return 0.0;
            if (x >= 10.0) return x;
            return through_f16(gelu_tanh(through_f16(x)));
    }
    return 0.0;
}

void softmax(float* x, uint32_t n) {
    const float max = *std::max_element(x, x + n);
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) sum += std::exp(static_cast<double>(x[i]) - max);
    for (uint32_t i = 0; i < n; i++) x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - max) / sum);
}

void append_entry(KvCache& cache, uint32_t layer, uint32_t kv_head, const float* k, const float* v, uint32_t pos,
                  PositionMode positions, const RopeParams& rope_params) {
    const uint32_t hd = cache.head_dim();
    const uint32_t s = cache.append(layer, kv_head, pos);
    float* key = cache.key(layer, kv_head, s);
    float* value = cache.value(layer, kv_head, s);
    std::copy(k, k + hd, key);
    if (positions == PositionMode::original) rope(key, hd, pos, rope_params);
    std::copy(v, v + hd, value);
    cache.round_key(key);  // rotated first, as the device rounds what it writes
    cache.round_value(value);
}

void attend(const KvCache& cache, uint32_t layer, uint32_t kv_head, const float* q, uint32_t q_pos,
            PositionMode positions, const RopeParams& rope_params, double scale, std::vector<float>& probs,
            float* out) {
    const uint32_t hd = cache.head_dim();
    const uint32_t L = cache.length(layer, kv_head);
    std::vector<float> q_rot(q, q + hd), key(hd);
    rope(q_rot.data(), hd, q_pos, rope_params);
    probs.resize(L);
    for (uint32_t i = 0; i < L; i++) {
        const float* stored = cache.key(layer, kv_head, cache.slot(layer, kv_head, i));
        std::copy(stored, stored + hd, key.begin());
        if (positions == PositionMode::cache_index) rope(key.data(), hd, i, rope_params);  // entry i sits at position i
        double score = 0.0;
        for (uint32_t d = 0; d < hd; d++) score += static_cast<double>(q_rot[d]) * key[d];
        probs[i] = static_cast<float>(score * scale);
    }
    softmax(probs.data(), L);
    // out[d] = sum over i of probs[i] * value_i[d], each sum in entry order.
    std::vector<double> sum(hd, 0.0);
    for (uint32_t i = 0; i < L; i++) {
        const float* value = cache.value(layer, kv_head, cache.slot(layer, kv_head, i));
        for (uint32_t d = 0; d < hd; d++) sum[d] += static_cast<double>(probs[i]) * value[d];
    }
    for (uint32_t d = 0; d < hd; d++) out[d] = static_cast<float>(sum[d]);
}

Reference::Reference(const Model& model, const CacheSettings& settings, uint32_t run_positions)
    : model_(model),
      c_(model.config),
      plan_(model_plan(model.config, std::max(run_positions, settings.positions_held(model.config)))),
      positions_(settings.positions),
      cache_(model.config, settings.layer_slots(model.config), settings.kv_type) {
    for (uint32_t l = 0; l < c_.n_layers; l++) policies_.push_back(settings.layer(c_, l));
    const uint32_t q_dim = c_.n_heads * c_.head_dim();
    x_.resize(c_.dim);
    xb_.resize(c_.dim);
    q_.resize(q_dim);
    k_.resize(c_.kv_dim());
    v_.resize(c_.kv_dim());
    att_out_.resize(q_dim);
    hb_.resize(c_.hidden_dim);
    hb2_.resize(c_.hidden_dim);
    tmp_.resize(c_.dim);
    logits_.resize(c_.vocab_size);
    // Norm weights are small and read at every step: dequantised once here.
    auto norm = [&](const TensorView& t) {
        std::vector<float> w(c_.dim);
        dequantize_row(t, 0, w.data());
        return w;
    };
    // So are the variants' vectors: biases, Q/K norms.
    auto vector = [&](const TensorView& t) {
        std::vector<float> v(t.cols);
        if (t.data) dequantize_row(t, 0, v.data());
        return v;
    };
    for (const LayerWeights& w : model.layers) {
        attn_norm_.push_back(norm(w.attn_norm));
        ffn_norm_.push_back(norm(w.ffn_norm));
        bias_.push_back({vector(w.bq), vector(w.bk), vector(w.bv)});
        qk_norm_.push_back({vector(w.q_norm), vector(w.k_norm)});
        post_norm_.push_back({vector(w.post_attn_norm), vector(w.post_ffn_norm)});
    }
    final_norm_ = norm(model.final_norm);
    att_.assign(c_.n_layers, std::vector<std::vector<float>>(c_.n_heads));
}

void Reference::reset() {
    cache_.clear();
    steps_ = 0;
}

const std::vector<float>& Reference::forward(int32_t token, uint32_t pos) {
    run_layers(token, pos);
    // Final norm and classifier.
    rmsnorm(x_.data(), x_.data(), final_norm_.data(), c_.dim, c_.rms_eps);
    matvec(logits_.data(), model_.classifier, x_.data(), row_);
    if (plan_.logit_scale != 1.0f) {  // Granite
        const float inverse = 1.0f / plan_.logit_scale;
        for (float& logit : logits_) logit *= inverse;
    }
    if (plan_.logit_softcap > 0.0f) {  // Gemma
        const double cap = plan_.logit_softcap;
        for (float& logit : logits_) logit = static_cast<float>(cap * std::tanh(logit / cap));
    }
    return logits_;
}

double Reference::nll(int32_t token, uint32_t pos, int32_t target) {
    if (target < 0 || static_cast<uint32_t>(target) >= c_.vocab_size) {
        throw Error("token id " + std::to_string(target) + " is outside the vocabulary");
    }
    const std::vector<float>& logits = forward(token, pos);
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
    return std::log(sum) + max - logits[target];
}

void Reference::run_layers(int32_t token, uint32_t pos) {
    if (token < 0 || static_cast<uint32_t>(token) >= c_.vocab_size) {
        throw Error("token id " + std::to_string(token) + " is outside the vocabulary");
    }
    const uint32_t hd = c_.head_dim();

    // Embedding.
    dequantize_row(model_.token_embedding, static_cast<uint64_t>(token), x_.data());
    if (plan_.embedding_scale != 1.0f) {  // Granite
        for (float& v : x_) v *= plan_.embedding_scale;
    }

    for (uint32_t l = 0; l < c_.n_layers; l++) {
        const LayerWeights& w = model_.layers[l];
        const LayerPlan& p = plan_.layers[l];

        // Attention block: norm, projections.
        rmsnorm(xb_.data(), x_.data(), attn_norm_[l].data(), c_.dim, c_.rms_eps);
        matvec(q_.data(), w.wq, xb_.data(), row_);
        matvec(k_.data(), w.wk, xb_.data(), row_);
        matvec(v_.data(), w.wv, xb_.data(), row_);
        if (p.qkv_bias) {  // Qwen2
            for (uint32_t i = 0; i < q_.size(); i++) q_[i] += bias_[l][0][i];
            for (uint32_t i = 0; i < c_.kv_dim(); i++) k_[i] += bias_[l][1][i];
            for (uint32_t i = 0; i < c_.kv_dim(); i++) v_[i] += bias_[l][2][i];
        }
        if (p.qk_norm) {  // Qwen3: every query and key head RMS-normed on its own, before RoPE
            for (uint32_t h = 0; h < c_.n_heads; h++)
                rmsnorm(&q_[h * hd], &q_[h * hd], qk_norm_[l][0].data(), hd, c_.rms_eps);
            for (uint32_t h = 0; h < c_.n_kv_heads; h++)
                rmsnorm(&k_[h * hd], &k_[h * hd], qk_norm_[l][1].data(), hd, c_.rms_eps);
        }

        // Append the new key and value: the cache now holds L = length + 1 entries.
        for (uint32_t kvh = 0; kvh < c_.n_kv_heads; kvh++) {
            append_entry(cache_, l, kvh, &k_[kvh * hd], &v_[kvh * hd], pos, positions_, p.rope);
        }

        // Attention over the entries in logical order, per query head.
        const uint32_t L = cache_.length(l, 0);
        const uint32_t q_pos = positions_ == PositionMode::cache_index ? L - 1 : pos;
        for (uint32_t h = 0; h < c_.n_heads; h++) {
            attend(cache_, l, h / c_.group_size(), &q_[h * hd], q_pos, positions_, p.rope, p.attention_scale,
                   att_[l][h], &att_out_[h * hd]);
        }

        // Score bookkeeping (spec §2.3 steps 2-3): each entry's acc gains the
        // probability mass the group's query heads gave it; cnt counts steps.
        for (uint32_t kvh = 0; kvh < c_.n_kv_heads; kvh++) {
            for (uint32_t i = 0; i < L; i++) {
                const uint32_t s = cache_.slot(l, kvh, i);
                double mass = 0.0;
                for (uint32_t g = 0; g < c_.group_size(); g++) mass += att_[l][kvh * c_.group_size() + g][i];
                cache_.acc(l, kvh, s) += static_cast<float>(mass);
                cache_.cnt(l, kvh, s) += 1;
            }
        }

        // Compression (spec §2.3 step 4): once the layer holds budget + 1 entries, drop one.
        const CachePolicy& policy = policies_[l];
        if (policy.compresses() && L > policy.budget) {
            if (policy_info(policy.kind).uses_head_mean) {
                head_mean_.assign(L, 0.0f);
                for (uint32_t i = 0; i < L; i++) {
                    double sum = 0.0;
                    for (uint32_t h = 0; h < c_.n_heads; h++) sum += att_[l][h][i];
                    head_mean_[i] = static_cast<float>(sum / c_.n_heads);
                }
            }
            compress_layer(cache_, l, policy, {head_mean_, steps_});
        }

        // Output projection and residual (Gemma norms the output first).
        matvec(tmp_.data(), w.wo, att_out_.data(), row_);
        if (p.post_norms) rmsnorm(tmp_.data(), tmp_.data(), post_norm_[l][0].data(), c_.dim, c_.rms_eps);
        for (uint32_t i = 0; i < c_.dim; i++) x_[i] += p.residual_scale * tmp_[i];

        // Feed-forward block: x += W2 (act(W1 xb) * W3 xb), act SiLU or GELU.
        rmsnorm(xb_.data(), x_.data(), ffn_norm_[l].data(), c_.dim, c_.rms_eps);
        matvec(hb_.data(), w.w1, xb_.data(), row_);
        matvec(hb2_.data(), w.w3, xb_.data(), row_);
        for (uint32_t i = 0; i < c_.hidden_dim; i++) hb_[i] = static_cast<float>(gate(p.activation, hb_[i]) * hb2_[i]);
        matvec(tmp_.data(), w.w2, hb_.data(), row_);
        if (p.post_norms) rmsnorm(tmp_.data(), tmp_.data(), post_norm_[l][1].data(), c_.dim, c_.rms_eps);
        for (uint32_t i = 0; i < c_.dim; i++) x_[i] += p.residual_scale * tmp_[i];
    }

    steps_++;
}

}  // namespace wkv
