#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace wkv {

int32_t argmax(const std::vector<float>& logits) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

Sampler::Sampler(SamplerSettings settings)
    : settings_(settings), state_(settings.seed ? settings.seed : 0x9E3779B97F4A7C15ull) {}

float Sampler::next_uniform() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<float>((state_ * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;  // 24 random bits
}

int32_t Sampler::sample(const std::vector<float>& logits) {
    if (settings_.temperature == 0.0f) return argmax(logits);
    const size_t n = logits.size();
    probs_.resize(n);
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        probs_[i] = std::exp((logits[i] - max) / settings_.temperature);
        sum += probs_[i];
    }
    for (float& p : probs_) p = static_cast<float>(p / sum);

    // Nucleus: the most probable tokens whose mass first reaches top_p.
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    std::stable_sort(order_.begin(), order_.end(), [&](int32_t a, int32_t b) { return probs_[a] > probs_[b]; });
    size_t kept = 0;
    double mass = 0.0;
    while (kept < n && (kept == 0 || mass < settings_.top_p)) mass += probs_[order_[kept++]];

    const double r = next_uniform() * mass;
    double cumulative = 0.0;
    for (size_t i = 0; i < kept; i++) {
        cumulative += probs_[order_[i]];
        if (r < cumulative) return order_[i];
    }
    return order_[kept - 1];  // rounding left r at the very top
}

}  // namespace wkv
