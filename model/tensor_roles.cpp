#include "tensor_roles.hpp"

namespace wkv {

namespace {

TensorShape norm_shape(const ModelConfig& c) { return {1, c.dim}; }
TensorShape embedding_shape(const ModelConfig& c) { return {c.vocab_size, c.dim}; }

TensorShape head_shape(const ModelConfig& c) { return {1, c.head_dim()}; }
TensorShape kv_vector_shape(const ModelConfig& c) { return {1, c.kv_dim()}; }
bool has_qkv_bias(const ModelConfig& c) { return c.qkv_bias; }
bool has_qk_norm(const ModelConfig& c) { return c.qk_norm; }

constexpr ModelTensorRole kModelTensors[] = {
    {"token_embd.weight", &Model::token_embedding, false, embedding_shape, false},                 // [vocab_size][dim]
    {"output_norm.weight", &Model::final_norm, true, norm_shape, false},                           // [1][dim]
    {"output.weight", &Model::classifier, false, embedding_shape, true, &Model::token_embedding},  // tied when absent
    {"rope_freqs.weight", &Model::rope_freqs, true,
     [](const ModelConfig& c) {
         return TensorShape{1, c.head_dim() / 2};
     },
     true},
};

constexpr LayerTensorRole kLayerTensors[] = {
    {"attn_norm.weight", &LayerWeights::attn_norm, true, norm_shape},
    {"attn_q.weight", &LayerWeights::wq, false,
     [](const ModelConfig& c) {
         return TensorShape{uint64_t{c.n_heads} * c.head_dim(), c.dim};
     }},
    {"attn_k.weight", &LayerWeights::wk, false,
     [](const ModelConfig& c) {
         return TensorShape{c.kv_dim(), c.dim};
     }},
    {"attn_v.weight", &LayerWeights::wv, false,
     [](const ModelConfig& c) {
         return TensorShape{c.kv_dim(), c.dim};
     }},
    {"attn_output.weight", &LayerWeights::wo, false,
     [](const ModelConfig& c) {
         return TensorShape{c.dim, uint64_t{c.n_heads} * c.head_dim()};
     }},
    {"ffn_norm.weight", &LayerWeights::ffn_norm, true, norm_shape},
    {"ffn_gate.weight", &LayerWeights::w1, false,
     [](const ModelConfig& c) {
         return TensorShape{c.hidden_dim, c.dim};
     }},
    {"ffn_down.weight", &LayerWeights::w2, false,
     [](const ModelConfig& c) {
         return TensorShape{c.dim, c.hidden_dim};
     }},
    {"ffn_up.weight", &LayerWeights::w3, false,
     [](const ModelConfig& c) {
         return TensorShape{c.hidden_dim, c.dim};
     }},
    {"attn_q.bias", &LayerWeights::bq, true,
     [](const ModelConfig& c) {
         return TensorShape{1, uint64_t{c.n_heads} * c.head_dim()};
     },
     has_qkv_bias},
    {"attn_k.bias", &LayerWeights::bk, true, kv_vector_shape, has_qkv_bias},
    {"attn_v.bias", &LayerWeights::bv, true, kv_vector_shape, has_qkv_bias},
    {"attn_q_norm.weight", &LayerWeights::q_norm, true, head_shape, has_qk_norm},
    {"attn_k_norm.weight", &LayerWeights::k_norm, true, head_shape, has_qk_norm},
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
