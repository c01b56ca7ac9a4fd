#include "tensor_roles.hpp"

namespace wkv {

namespace {

TensorShape norm_shape(const ModelConfig& c) { return {1, c.dim}; }
TensorShape embedding_shape(const ModelConfig& c) { return {c.vocab_size, c.dim}; }

TensorShape head_shape(const ModelConfig& c) { return {1, c.head_dim()}; }
TensorShape rope_factors_shape(const ModelConfig& c) { return {1, c.rotated_dims() / 2}; }
TensorShape kv_vector_shape(const ModelConfig& c) { return {1, c.kv_dim()}; }
bool has_qkv_bias(const ModelConfig& c) { return c.qkv_bias; }
bool has_qk_norm(const ModelConfig& c) { return c.qk_norm; }
bool has_post_norms(const ModelConfig& c) { return c.post_norms; }

constexpr ModelTensorRole kModelTensors[] = {
    {"token_embd.weight", &Model::token_embedding, false, embedding_shape, false},                 // [vocab_size][dim]
    {"output_norm.weight", &Model::final_norm, true, norm_shape, false},                           // [1][dim]
    {"output.weight", &Model::classifier, false, embedding_shape, true, &Model::token_embedding},  // tied when absent
    // RoPE's frequency factors (Llama 3.1; Phi-3's LongRoPE): folded into the RoPE tables, not uploaded.
    {"rope_freqs.weight", &Model::rope_freqs, true, rope_factors_shape, true},
    {"rope_factors_long.weight", &Model::rope_factors_long, true, rope_factors_shape, true},
    {"rope_factors_short.weight", &Model::rope_factors_short, true, rope_factors_shape, true},
};

TensorShape q_shape(const ModelConfig& c) { return {uint64_t{c.n_heads} * c.head_dim(), c.dim}; }
TensorShape kv_shape(const ModelConfig& c) { return {c.kv_dim(), c.dim}; }
TensorShape up_shape(const ModelConfig& c) { return {c.hidden_dim, c.dim}; }
TensorShape q_vector_shape(const ModelConfig& c) { return {1, uint64_t{c.n_heads} * c.head_dim()}; }

// In the order each slot stacks its roles: q, then k, then v; gate, then up.
constexpr LayerTensorRole kLayerTensors[] = {
    {"attn_norm.weight", &LayerWeights::attn_norm, true, norm_shape, DeviceSlot::attn_norm, false},
    {"attn_q.weight", &LayerWeights::wq, false, q_shape, DeviceSlot::qkv, true},
    {"attn_k.weight", &LayerWeights::wk, false, kv_shape, DeviceSlot::qkv, true},
    {"attn_v.weight", &LayerWeights::wv, false, kv_shape, DeviceSlot::qkv, false},
    {"attn_output.weight", &LayerWeights::wo, false,
     [](const ModelConfig& c) {
         return TensorShape{c.dim, uint64_t{c.n_heads} * c.head_dim()};
     },
     DeviceSlot::wo, false},
    {"ffn_norm.weight", &LayerWeights::ffn_norm, true, norm_shape, DeviceSlot::ffn_norm, false},
    {"ffn_gate.weight", &LayerWeights::w1, false, up_shape, DeviceSlot::gate_up, false},
    {"ffn_down.weight", &LayerWeights::w2, false,
     [](const ModelConfig& c) {
         return TensorShape{c.dim, c.hidden_dim};
     },
     DeviceSlot::w2, false},
    {"ffn_up.weight", &LayerWeights::w3, false, up_shape, DeviceSlot::gate_up, false},
    {"attn_q.bias", &LayerWeights::bq, true, q_vector_shape, DeviceSlot::qkv_bias, true, has_qkv_bias},
    {"attn_k.bias", &LayerWeights::bk, true, kv_vector_shape, DeviceSlot::qkv_bias, true, has_qkv_bias},
    {"attn_v.bias", &LayerWeights::bv, true, kv_vector_shape, DeviceSlot::qkv_bias, false, has_qkv_bias},
    {"attn_q_norm.weight", &LayerWeights::q_norm, true, head_shape, DeviceSlot::q_norm, true, has_qk_norm},
    {"attn_k_norm.weight", &LayerWeights::k_norm, true, head_shape, DeviceSlot::k_norm, true, has_qk_norm},
    {"post_attention_norm.weight", &LayerWeights::post_attn_norm, true, norm_shape, DeviceSlot::post_attn_norm, false,
     has_post_norms},
    {"post_ffw_norm.weight", &LayerWeights::post_ffn_norm, true, norm_shape, DeviceSlot::post_ffn_norm, false,
     has_post_norms},
};

}  // namespace

std::span<const LayerTensorRole> layer_tensor_roles() { return kLayerTensors; }
std::span<const ModelTensorRole> model_tensor_roles() { return kModelTensors; }

std::vector<const TensorView*> all_tensors(const Model& m) {
    std::vector<const TensorView*> out;
    for (const ModelTensorRole& r : kModelTensors) {
        const TensorView& t = m.*r.member;
        if (!t.data) continue;                                                  // left out
        if (&t == &m.classifier && t.data == m.token_embedding.data) continue;  // the embedding, listed already
        out.push_back(&t);
    }
    for (const LayerWeights& l : m.layers) {
        for (const LayerTensorRole& r : kLayerTensors) {
            if (has_role(r, m.config)) out.push_back(&(l.*r.member));
        }
    }
    return out;
}

}  // namespace wkv
