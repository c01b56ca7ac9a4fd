// The tensors a model is made of, one row per role: the name a GGUF file gives
// it, the shape the config implies, whether it is a norm (a [1][dim] vector,
// f32 or f16) or a matrix, whether a file may leave it out, and where it goes
// on the device. The GGUF loader, the shape checks, the upload, the memory
// plan, `wkv info`, the fuzzers and the tests all read this table, so an
// architecture variant (a bias, a Q/K norm) is a row and a flag here, not an
// edit in each of them. (llama2.c files have no names: their loader reads the
// same members in the file's fixed order.)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model.hpp"

namespace wkv {

struct TensorShape {
    uint64_t rows, cols;
};

// Where a layer tensor goes on the device (runtime/device_layout): each slot holds the roles
// that name it one after another, in table order, as one tensor where it can (Wq, Wk and Wv
// stacked into one matrix, so one dispatch computes q, k and v; the Q, K and V biases joined
// into one vector), else each role apart (matrices of different types).
enum class DeviceSlot : uint32_t {
    attn_norm,
    qkv,
    qkv_bias,
    q_norm,
    k_norm,
    wo,
    post_attn_norm,
    ffn_norm,
    gate_up,
    w2,
    post_ffn_norm
};
constexpr uint32_t kDeviceSlots = 11;

// A tensor of every layer: blk.N.<gguf_suffix> in a GGUF file.
struct LayerTensorRole {
    const char* gguf_suffix;  // "attn_q.weight"
    TensorView LayerWeights::*member;
    bool norm;  // a vector (a norm's weights, a bias), f32 or f16, read whole; on the device, f32
    TensorShape (*shape)(const ModelConfig&);
    DeviceSlot slot;
    // Its rows (a vector's values) are heads' dimensions that RoPE rotates: reordered on upload
    // for NEOX RoPE, so that the shaders rotate neighbouring pairs for every model.
    bool rotated;
    // Whether a model has it (an architecture variant's flag); null: every model.
    bool (*present)(const ModelConfig&) = nullptr;
};

// A tensor of the model as a whole.
struct ModelTensorRole {
    const char* gguf_name;  // "token_embd.weight"
    TensorView Model::*member;
    bool norm;
    TensorShape (*shape)(const ModelConfig&);
    bool optional;  // a file may leave it out
    // What stands in for it when it is left out (the classifier: the embedding table); null: nothing.
    TensorView Model::*fallback = nullptr;
};

// Whether model `c` has this layer tensor.
inline bool has_role(const LayerTensorRole& r, const ModelConfig& c) { return !r.present || r.present(c); }

std::span<const LayerTensorRole> layer_tensor_roles();
std::span<const ModelTensorRole> model_tensor_roles();

// Every weight of a model, in table order (the model's own, then each layer's);
// a classifier that is the embedding table is listed once, as the embedding, and
// a tensor the model does not have is not listed.
std::vector<const TensorView*> all_tensors(const Model& m);

}  // namespace wkv
