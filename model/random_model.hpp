// Seeded random Llama models of any shape and weight type, written as GGUF:
// for shader conformance and the tests that need no real weights. Their f32
// values are encoded as f16, bf16, or q8_0 and q4_0 as llama.cpp quantises them.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "config.hpp"
#include "tensor.hpp"

namespace wkv {

// ggml type ids
constexpr uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlQ4_0 = 2, kGgmlQ8_0 = 8, kGgmlBF16 = 30;

// Encodes float values (a multiple of 32 for the block types) as f32, f16, bf16, q8_0 or q4_0.
std::vector<uint8_t> encode_ggml(const std::vector<float>& values, uint32_t ggml_type);

class GgufWriter;

struct RandomModelOptions {
    ModelConfig config;
    uint32_t weight_type = kGgmlF32;  // type of the 2-D weights; norms are f32
    uint64_t seed = 1;
    bool tied_classifier = false;
    std::function<void(GgufWriter&)> extra_metadata;  // more key/values after the model's own
};

// `values` values of `type` (whole blocks) as seeded random data, for
// conformance: plain types hold random numbers in [-1, 1); block types random
// bytes, except that their f16 fields (scales and minimums) hold moderate
// values, so every value decodes to a finite number. Any bit pattern of the
// quantised fields is a case the CPU and GPU dequantisers must agree on.
// Each block type names its f16 fields in random_model.cpp: its conformance case.
std::vector<uint8_t> random_weights(TensorType type, uint64_t values, uint64_t seed);

// A Llama GGUF with seeded random weights scaled so activations stay O(1).
std::vector<uint8_t> random_llama_gguf(const RandomModelOptions& options);

}  // namespace wkv
