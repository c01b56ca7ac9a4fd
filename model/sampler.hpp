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
    int32_t sample(const std::vector<float>& logits);              // -1 for broken logits, as argmax()
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

// A seed for a run that names none: from the system's random source, never 0 (which
// stands for a fixed default), below 2^53 so that JSON readers of any language keep it exact.
uint64_t random_seed();

// The first index of the maximum; -1 when a logit is NaN or +inf, which only a broken
// model or computation gives (the device's argmax says the same). -inf is a token never picked.
int32_t argmax(const std::vector<float>& logits);
bool broken_logits(const std::vector<float>& logits);  // a logit is NaN or +inf

}  // namespace wkv
