// The paper's merge-perturbation check (weightedkv-spec.md §2.10, Fig. 2): run
// a document with the full cache to step 100; there, in every layer and KV
// head, either merge the lowest-average-attention entry into its right
// neighbour (WeightedKV) or drop it (the eviction ablation); then keep going
// for 800 steps and compare each later attention row with the full cache's by
// cosine similarity. The full row is aligned by folding the dropped entry's
// probability into its right neighbour's. Attention rows depend on the keys,
// which both variants drop alike; the merge acts on the values, so the tool
// also compares the next-token distributions: KL(full || variant).
//
// Usage: wkv_merge_perturbation MODEL TOKENIZER FILE [FILE ...]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "error.hpp"
#include "policy.hpp"
#include "reference.hpp"
#include "tokenizer.hpp"

using namespace wkv;

namespace {

constexpr uint32_t kMergeStep = 100, kFollow = 800;

double cosine(const std::vector<double>& a, const std::vector<float>& b) {
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += static_cast<double>(b[i]) * b[i];
    }
    return dot / std::sqrt(na * nb);
}

struct Stats {
    double sum = 0, sum_sq = 0;
    uint64_t n = 0;
    void add(double x) {
        sum += x;
        sum_sq += x * x;
        n++;
    }
    double mean() const { return sum / n; }
    double stddev() const { return std::sqrt(std::max(0.0, sum_sq / n - mean() * mean())); }
};

// KL(p || q) of the softmax distributions of two logit vectors.
double kl_divergence(const std::vector<float>& p_logits, const std::vector<float>& q_logits) {
    auto log_softmax = [](const std::vector<float>& l) {
        const double max = *std::max_element(l.begin(), l.end());
        double z = 0;
        for (float x : l) z += std::exp(x - max);
        std::vector<double> out(l.size());
        for (size_t i = 0; i < l.size(); i++) out[i] = l[i] - max - std::log(z);
        return out;
    };
    const std::vector<double> lp = log_softmax(p_logits), lq = log_softmax(q_logits);
    double kl = 0;
    for (size_t i = 0; i < lp.size(); i++) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
    return kl;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL TOKENIZER FILE [FILE ...]\n", argv[0]);
        return 2;
    }
    try {
        const Model model = load_model(argv[1]);
        const Tokenizer tokenizer = Tokenizer::load(argv[2]);
        const ModelConfig& c = model.config;
        Stats merged, evicted, kl_merged, kl_evicted;
        for (int f = 3; f < argc; f++) {
            std::ifstream in(argv[f], std::ios::binary);
            if (!in) fail(argv[f], "cannot open");
            std::stringstream text;
            text << in.rdbuf();
            std::vector<int32_t> tokens = tokenizer.encode(text.str().substr(0, 40000), true);
            if (tokens.size() < kMergeStep + kFollow + 1) fail(argv[f], "is too short");
            const uint32_t capacity = kMergeStep + kFollow + 1;
            Reference full(model, capacity);
            for (uint32_t t = 0; t < kMergeStep; t++) full.forward(tokens[t], t);

            // The entry WeightedKV would merge at this point, per layer and head (4 sinks, the newest excluded).
            CachePolicy choice;
            choice.kind = PolicyKind::weightedkv;
            choice.budget = kMergeStep - 1;
            choice.sinks = 4;
            choice.recent = 1;
            Reference merge = full, evict = full;
            std::vector<std::vector<uint32_t>> victim(c.n_layers, std::vector<uint32_t>(c.n_kv_heads));
            for (uint32_t l = 0; l < c.n_layers; l++) {
                for (uint32_t h = 0; h < c.n_kv_heads; h++) {
                    const uint32_t j = select_lowest_average(full.cache(), l, h, choice);
                    victim[l][h] = j;
                    merge_weighted(merge.cache(), l, h, j);
                    merge.cache().remove(l, h, j);
                    evict.cache().remove(l, h, j);
                }
            }
            for (uint32_t t = kMergeStep; t < kMergeStep + kFollow; t++) {
                const std::vector<float> full_logits = full.forward(tokens[t], t);
                kl_merged.add(kl_divergence(full_logits, merge.forward(tokens[t], t)));
                kl_evicted.add(kl_divergence(full_logits, evict.forward(tokens[t], t)));
                for (uint32_t l = 0; l < c.n_layers; l++) {
                    for (uint32_t q = 0; q < c.n_heads; q++) {
                        const uint32_t j = victim[l][q / c.group_size()];
                        std::vector<double> aligned(full.attention(l, q).begin(), full.attention(l, q).end());
                        aligned[j + 1] += aligned[j];
                        aligned.erase(aligned.begin() + j);
                        merged.add(cosine(aligned, merge.attention(l, q)));
                        evicted.add(cosine(aligned, evict.attention(l, q)));
                    }
                }
            }
            std::fprintf(stderr, "%s done\n", argv[f]);
        }
        std::printf("attention rows compared: %llu (steps %u..%u, every layer and query head)\n",
                    static_cast<unsigned long long>(merged.n), kMergeStep, kMergeStep + kFollow - 1);
        std::printf("cosine similarity to the full cache after one merge:    mean %.6f  std %.6f\n", merged.mean(),
                    merged.stddev());
        std::printf("cosine similarity to the full cache after one eviction: mean %.6f  std %.6f\n", evicted.mean(),
                    evicted.stddev());
        std::printf("KL(full || merged) of the next-token distribution:     mean %.3e  std %.3e\n", kl_merged.mean(),
                    kl_merged.stddev());
        std::printf("KL(full || evicted) of the next-token distribution:    mean %.3e  std %.3e\n", kl_evicted.mean(),
                    kl_evicted.stddev());
        return 0;
    } catch (const Error& e) {
        std::fprintf(stderr, "wkv_merge_perturbation: %s\n", e.what());
        return 2;
    }
}
