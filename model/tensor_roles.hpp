// The tensors a model is made of, one row per role: the name a GGUF file gives
// it, the shape the config implies, whether it is a norm (a [1][dim] vector,
// f32 or f16) or a matrix, and whether a file may leave it out. The GGUF loader,
// the shape checks, the memory plan, `wkv info`, the fuzzers and the tests all
// read this table, so an architecture variant (a bias, a Q/K norm) is a row and
// a flag here, not an edit in each of them. (llama2.c files have no names: their
// loader reads the same members in the file's fixed order.)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "model.hpp"

namespace wkv {

struct TensorShape {
    uint64_t rows, cols;
};

// A tensor of every layer: blk.N.<gguf_suffix> in a GGUF file.
struct LayerTensorRole {
    const char* gguf_suffix;  // "attn_q.weight"
    TensorView LayerWeights::*member;
    bool norm;  // a vector (a norm's weights, a bias), f32 or f16, read whole
    TensorShape (*shape)(const ModelConfig&);
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
