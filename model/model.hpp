// A loaded model: its hyper-parameters and views of every weight, backed by a
// read-only mapping of the file. load_model() recognises the format by its
// first bytes: GGUF ("GGUF"), llama2.c version 2 ("ak42"), else llama2.c v0.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "mapped_file.hpp"
#include "tensor.hpp"
#include "vocabulary.hpp"

namespace wkv {

enum class ModelFormat { llama2c_v0, llama2c_v2, gguf };

const char* model_format_name(ModelFormat f);

struct LayerWeights {
    TensorView attn_norm;  // [1][dim]
    TensorView wq;         // [n_heads * head_dim][dim]
    TensorView wk;         // [n_kv_heads * head_dim][dim]
    TensorView wv;         // [n_kv_heads * head_dim][dim]
    TensorView wo;         // [dim][n_heads * head_dim]
    TensorView ffn_norm;   // [1][dim]
    TensorView w1;         // [hidden_dim][dim]  gate
    TensorView w2;         // [dim][hidden_dim]  down
    TensorView w3;         // [hidden_dim][dim]  up
    // Variants (ModelConfig says which a model has); empty views otherwise.
    TensorView bq, bk, bv;                     // qkv_bias: [1][n_heads * head_dim], [1][kv_dim] twice
    TensorView q_norm, k_norm;                 // qk_norm: [1][head_dim] each, shared by every head
    TensorView post_attn_norm, post_ffn_norm;  // post_norms: [1][dim] each
};

struct Model {
    std::string path;
    ModelFormat format = ModelFormat::llama2c_v0;
    ModelConfig config;
    MappedFile file;                // owns the bytes every TensorView points into
    std::vector<MappedFile> parts;  // a split GGUF's further files (model/gguf_split.hpp), which own the rest

    TensorView token_embedding;  // [vocab_size][dim]
    std::vector<LayerWeights> layers;
    TensorView final_norm;  // [1][dim]
    TensorView classifier;  // [vocab_size][dim]; the embedding itself when shared
    TensorView rope_freqs;  // [1][rotated / 2] (Llama 3.1), read into ModelConfig::rope_freq_factors; or empty
    // [1][rotated / 2] each (Phi-3's LongRoPE), read into ModelConfig::rope_factors_long/short; or empty
    TensorView rope_factors_long, rope_factors_short;

    // GGUF files may embed their tokenizer (tokenizer.ggml.*).
    std::optional<Vocabulary> vocabulary;
    std::string embedded_tokenizer_kind;  // tokenizer.ggml.model, "" when absent
    std::string chat_template;            // tokenizer.chat_template (Jinja), "" when absent

    // The file's metadata as printable text, key by key (GGUF key/values; the
    // header of a llama2.c file), for `wkv info`.
    std::vector<std::pair<std::string, std::string>> metadata;

    uint64_t weight_bytes() const;  // bytes of all weights as stored
    // What a forward pass reads of them: everything but the embedding table,
    // of which one row (a shared classifier reads the table as the classifier).
    uint64_t bytes_read_per_token() const;
};

// Throws wkv::Error("PATH: <what is wrong>") for anything it cannot use.
Model load_model(const std::string& path);

// Internal to the loaders: shape and type checks shared by both formats.
void load_llama2c(Model& m);
void load_gguf_llama(Model& m);
void check_model_shapes(const Model& m);

}  // namespace wkv
