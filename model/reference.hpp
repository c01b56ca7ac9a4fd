// The CPU reference of the Llama-2 forward pass: one token at a time, plain
// C++, the oracle every shader is tested against. Weights are dequantised one
// row at a time as they are used; activations are float32; every dot product,
// norm and softmax accumulates in double, so the reference's own rounding is
// far below the tolerances the GPU is held to.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "kv_cache.hpp"
#include "layer_plan.hpp"
#include "model.hpp"
#include "policy.hpp"

namespace wkv {

class Reference {
public:
    // `run_positions`: the most positions any sequence of the run holds, where that is more than
    // this one's (an engine of several: LongRoPE takes one choice of factors for all); 0: its own.
    Reference(const Model& model, const CacheSettings& settings, uint32_t run_positions = 0);
    // A full cache of `entries`.
    Reference(const Model& model, uint32_t entries, PositionMode positions = PositionMode::cache_index)
        : Reference(model, full_cache(entries, positions)) {}

    // Runs `token` at absolute position `pos` through every layer: appends its
    // key and value, attends, updates the scores and, once a layer holds
    // budget + 1 entries, lets the policy drop one (spec §2.3). Returns the logits.
    const std::vector<float>& forward(int32_t token, uint32_t pos);
    // The same without the classifier: a token nobody scores.
    void feed(int32_t token, uint32_t pos) { run_layers(token, pos); }
    // forward(), then the negative log-likelihood of `target` as the next token.
    double nll(int32_t token, uint32_t pos, int32_t target);
    void reset();  // an empty cache: a new sequence

    // The entries a sequence holds: those of its global layers (ModelConfig::global_layer).
    uint32_t entries() const { return cache_.length(c_.global_layer(), 0); }
    KvCache& cache() { return cache_; }
    const KvCache& cache() const { return cache_; }
    // Attention probabilities of the last step: [layer][query head][logical index].
    const std::vector<float>& attention(uint32_t layer, uint32_t head) const { return att_[layer][head]; }

private:
    void run_layers(int32_t token, uint32_t pos);  // everything but the classifier

    const Model& model_;
    const ModelConfig& c_;
    ModelPlan plan_;                     // what each layer does
    std::vector<CachePolicy> policies_;  // [layer]: the chosen one, or a sliding window's
    PositionMode positions_;
    KvCache cache_;
    uint32_t steps_ = 0;  // tokens fed since the cache was empty

    // Activations of the current token.
    std::vector<float> x_;                                      // residual stream [dim]
    std::vector<float> xb_;                                     // normed input of a block [dim]
    std::vector<float> q_;                                      // queries [n_heads * head_dim]
    std::vector<float> k_;                                      // new keys [kv_dim]
    std::vector<float> v_;                                      // new values [kv_dim]
    std::vector<float> att_out_;                                // attention output [n_heads * head_dim]
    std::vector<float> hb_;                                     // the FFN's gate [hidden_dim]
    std::vector<float> hb2_;                                    // the FFN's up [hidden_dim]
    std::vector<float> tmp_;                                    // projection output [dim]
    std::vector<float> logits_;                                 // [vocab_size]
    std::vector<float> row_;                                    // one dequantised weight row
    std::vector<std::vector<float>> attn_norm_, ffn_norm_;      // [layer][dim], dequantised
    std::vector<std::array<std::vector<float>, 2>> post_norm_;  // [layer][attention, FFN]: if the model has them
    std::vector<std::array<std::vector<float>, 3>> bias_;       // [layer][q, k, v]: the biases, if the model has them
    std::vector<std::array<std::vector<float>, 2>> qk_norm_;    // [layer][q, k]: the per-head norms, if it has them
    std::vector<float> final_norm_;                             // [dim]
    std::vector<float> head_mean_;                      // last step's attention averaged over query heads (TOVA)
    std::vector<std::vector<std::vector<float>>> att_;  // [layer][head][index]
};

// The FFN's gate activation of x: SiLU, or GELU in its tanh form (exact, or through f16).
double gate(Activation activation, double x);

// Appends one KV head's new key and value to the cache; in original-positions
// mode the key is stored rotated at `pos`, otherwise as it is.
void append_entry(KvCache& cache, uint32_t layer, uint32_t kv_head, const float* k, const float* v, uint32_t pos,
                  PositionMode positions, const RopeParams& rope_params);
// One query head attending over the entries of (layer, kv_head) in logical
// order: q is rotated at q_pos, and in cache-index mode entry i's key at
// position i; q.k is multiplied by `scale`. Writes the softmax probabilities
// (one per entry) and the output.
void attend(const KvCache& cache, uint32_t layer, uint32_t kv_head, const float* q, uint32_t q_pos,
            PositionMode positions, const RopeParams& rope_params, double scale, std::vector<float>& probs, float* out);

// out = W x for W [rows][cols]: W's rows dequantised one at a time, dot products in double.
void matvec(float* out, const TensorView& w, const float* x, std::vector<float>& row_scratch);
// out = x / rms(x) * weight
void rmsnorm(float* out, const float* x, const float* weight, uint32_t n, float eps);
// The angle RoPE turns pair i of a head by at `pos`: pos * scale * theta^(-2i/dims) / factor_i
// (0 for a pair that does not rotate).
double rope_angle(uint32_t pos, uint32_t pair, uint32_t head_dim, const RopeParams& rope_params);
// That pair's (cos, sin), times the attention factor; (1, 0) where it does not rotate.
std::pair<double, double> rope_cos_sin(uint32_t pos, uint32_t pair, uint32_t head_dim, const RopeParams& rope_params);
// Rotates each rotating pair of one head (neighbours, or i and i + dims/2 for neox) by its angle.
void rope(float* head, uint32_t head_dim, uint32_t pos, const RopeParams& rope_params);
// In-place softmax over x[0..n).
void softmax(float* x, uint32_t n);

}  // namespace wkv
