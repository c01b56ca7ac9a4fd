#include "sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <random>

namespace wkv {

uint64_t random_seed() {
    std::random_device source;
    const uint64_t bits = (static_cast<uint64_t>(source()) << 32) | source();
    return bits % ((uint64_t{1} << 53) - 1) + 1;
}

bool broken_logits(const std::vector<float>& logits) {
    return std::any_of(logits.begin(), logits.end(), [](float l) { return std::isnan(l) || l == INFINITY; });
}

int32_t argmax(const std::vector<float>& logits) {
    if (broken_logits(logits)) return -1;
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
    if (broken_logits(logits)) return -1;
    return settings_.temperature == 0.0f ? argmax(logits) : pick(logits, next_uniform());
}

int32_t Sampler::pick(const std::vector<float>& logits, float uniform) {
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

    // Nucleus: the most probable tokens whose mass first reaches top_p, in
    // order of probability, ties in index order. A sampled distribution is
    // usually peaked, so sort only the 64 most probable first (one pass over
    // n = 32000 for Llama 2, not a full sort); only if they fall short of
    // top_p sort them all. Either way the same tokens in the same order.
    order_.resize(n);
    std::iota(order_.begin(), order_.end(), 0);
    const auto before = [&](int32_t a, int32_t b) {
        return probs_[a] > probs_[b] || (probs_[a] == probs_[b] && a < b);
    };
    size_t sorted = std::min<size_t>(n, 64), kept = 0;
    std::partial_sort(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(sorted), order_.end(), before);
    double mass = 0.0;
    while (kept < n && (kept == 0 || mass < settings_.top_p)) {
        if (kept == sorted) {
            std::sort(order_.begin() + static_cast<std::ptrdiff_t>(sorted), order_.end(), before);
            sorted = n;
        }
        mass += probs_[order_[kept++]];
    }

    const double r = uniform * mass;
    double cumulative = 0.0;
    for (size_t i = 0; i < kept; i++) {
        cumulative += probs_[order_[i]];
        if (r < cumulative) return order_[i];
    }
    return order_[kept - 1];  // rounding left r at the very top
}

}  // namespace wkv
