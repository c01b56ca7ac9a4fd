// Picks the next token from logits: greedy at temperature 0, otherwise
// nucleus (top-p) sampling from softmax(logits / temperature). The random
// numbers come from a seeded xorshift64* generator, so a seed reproduces a run
// on any platform.
#pragma once

#include <cstdint>
#include <vector>

namespace wkv {

struct SamplerSettings {
    float temperature = 1.0f;  // 0 = greedy
    float top_p = 0.9f;        // 1 = sample from the whole distribution
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(SamplerSettings settings);
    int32_t sample(const std::vector<float>& logits);
    bool greedy() const { return settings_.temperature == 0.0f; }  // sample() is argmax(), no draw
    // What sample() picks with `uniform` (in [0, 1)) as its random draw.
    int32_t pick(const std::vector<float>& logits, float uniform);

private:
    float next_uniform();  // [0, 1)

    SamplerSettings settings_;
    uint64_t state_;
    std::vector<float> probs_;
    std::vector<int32_t> order_;
};

int32_t argmax(const std::vector<float>& logits);  // first index of the maximum

}  // namespace wkv
