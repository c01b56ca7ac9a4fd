#include "policy.hpp"

#include <algorithm>

#include "error.hpp"

namespace wkv {

namespace {

constexpr uint32_t kDefaultSinks = 4;  // spec §2.5: "4 initial tokens are retained"

struct NamedPolicy {
    PolicyKind kind;
    const char* name;
};
constexpr NamedPolicy kNames[] = {
    {PolicyKind::full, "full"}, {PolicyKind::streaming, "streaming"}, {PolicyKind::h2o, "h2o"},
    {PolicyKind::tova, "tova"}, {PolicyKind::cam, "cam"},             {PolicyKind::evict, "evict"},
    {PolicyKind::weightedkv, "weightedkv"},
};

// Index of the smallest score(i) over [begin, end), the first one on ties.
template <typename Score>
uint32_t argmin(uint32_t begin, uint32_t end, Score score) {
    uint32_t best = begin;
    float best_value = score(begin);
    for (uint32_t i = begin + 1; i < end; i++) {
        const float v = score(i);
        if (v < best_value) {
            best = i;
            best_value = v;
        }
    }
    return best;
}

float average(const KvCache& cache, uint32_t layer, uint32_t head, uint32_t index) {
    const uint32_t s = cache.slot(layer, head, index);
    return cache.acc(layer, head, s) / static_cast<float>(cache.cnt(layer, head, s));
}

}  // namespace

std::optional<PolicyKind> parse_policy_name(std::string_view name) {
    for (const NamedPolicy& n : kNames) {
        if (name == n.name) return n.kind;
    }
    return std::nullopt;
}

const char* policy_name(PolicyKind kind) {
    for (const NamedPolicy& n : kNames) {
        if (kind == n.kind) return n.name;
    }
    return "?";
}

std::string describe(const CachePolicy& p) {
    std::string s = std::string(policy_name(p.kind)) + " budget=" + std::to_string(p.budget);
    if (p.compresses()) s += " sinks=" + std::to_string(p.sinks) + " recent=" + std::to_string(p.recent);
    if (p.kind == PolicyKind::cam) s += " n=" + std::to_string(p.cam_n) + " seed=" + std::to_string(p.seed);
    return s;
}

CachePolicy resolve_policy(const PolicyRequest& r, uint32_t model_context) {
    CachePolicy p;
    p.kind = r.kind;
    p.cam_n = r.cam_n;
    p.seed = r.seed;
    const std::string name = policy_name(r.kind);
    if (r.kind == PolicyKind::full) {
        p.budget = r.budget.value_or(model_context);
        if (p.budget == 0) throw Error("--budget must be at least 1");
        if (p.budget > model_context) {
            throw Error("--budget " + std::to_string(p.budget) + " is larger than the model's context of " +
                        std::to_string(model_context) + "; the full cache cannot hold more (use a compressing --policy)");
        }
        if (r.sinks || r.recent) throw Error("--sinks and --recent do not apply to --policy full");
        return p;
    }
    if (!r.budget) throw Error("--policy " + name + " needs --budget M (entries kept per layer and KV head)");
    p.budget = *r.budget;
    if (p.budget < 1 || p.budget > (1u << 20)) throw Error("--budget " + std::to_string(p.budget) + " is out of range (1..1048576)");
    p.sinks = r.sinks.value_or(r.kind == PolicyKind::tova ? 0 : kDefaultSinks);
    if (p.sinks >= p.budget) {
        throw Error("--sinks " + std::to_string(p.sinks) + " must be smaller than --budget " + std::to_string(p.budget));
    }
    switch (r.kind) {
        case PolicyKind::streaming:
        case PolicyKind::cam:
            // StreamingLLM's layout: sinks, then a window of everything else (spec §5).
            if (r.recent) throw Error("--recent does not apply to --policy " + name + ": its window is budget - sinks");
            p.recent = p.budget - p.sinks;
            if (r.kind == PolicyKind::cam && (p.cam_n < 1 || p.cam_n > 4096)) {
                throw Error("--cam-n " + std::to_string(p.cam_n) + " is out of range (1..4096)");
            }
            break;
        case PolicyKind::tova:
            p.recent = r.recent.value_or(0);
            break;
        default:  // h2o, evict, weightedkv: sinks + recent = m/2, the middle is the other half (spec §2.5)
            p.recent = r.recent.value_or(p.budget / 2 > p.sinks ? p.budget / 2 - p.sinks : 0);
            break;
    }
    // At L = budget + 1 entries the candidates [S, L - R) must not be empty, and
    // WeightedKV's candidates exclude the newest entry as well.
    const uint32_t protected_newest =
        (r.kind == PolicyKind::evict || r.kind == PolicyKind::weightedkv) ? std::max(p.recent, 1u) : p.recent;
    if (r.kind != PolicyKind::streaming && r.kind != PolicyKind::cam && p.sinks + protected_newest > p.budget) {
        throw Error("--sinks " + std::to_string(p.sinks) + " plus --recent " + std::to_string(p.recent) +
                    " leave no entry for --policy " + name + " to drop at --budget " + std::to_string(p.budget));
    }
    return p;
}

uint32_t select_oldest(const CachePolicy& p) { return p.sinks; }

uint32_t select_lowest_sum(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p) {
    const uint32_t L = cache.length(layer, head);
    return argmin(p.sinks, L - p.recent, [&](uint32_t i) { return cache.acc(layer, head, cache.slot(layer, head, i)); });
}

uint32_t select_lowest_last(const std::vector<float>& head_mean_attention, const CachePolicy& p) {
    const uint32_t L = static_cast<uint32_t>(head_mean_attention.size());
    return argmin(p.sinks, L - p.recent, [&](uint32_t i) { return head_mean_attention[i]; });
}

uint32_t select_lowest_average(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p) {
    const uint32_t L = cache.length(layer, head);
    return argmin(p.sinks, L - std::max(p.recent, 1u), [&](uint32_t i) { return average(cache, layer, head, i); });
}

void merge_weighted(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j) {
    const float w1 = average(cache, layer, head, j);
    const float w2 = average(cache, layer, head, j + 1);
    const float sum = w1 + w2;
    const float* from = cache.value(layer, head, cache.slot(layer, head, j));
    float* into = cache.value(layer, head, cache.slot(layer, head, j + 1));
    for (uint32_t d = 0; d < cache.head_dim(); d++) {
        into[d] = cache.stored(sum > 0.0f ? (w1 * from[d] + w2 * into[d]) / sum : (from[d] + into[d]) * 0.5f);
    }
}

uint32_t hash32(uint32_t x) {
    // A well-mixed 32-bit integer hash (xorshift-multiply rounds); integer-only, so
    // the policy shaders compute the very same bits.
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

float cam_uniform(uint32_t seed, uint32_t layer, uint32_t head, uint32_t step) {
    const uint32_t h = hash32(hash32(hash32(hash32(step) ^ head) ^ layer) ^ seed);
    return static_cast<float>(h >> 8) * (1.0f / 16777216.0f);
}

void merge_cam(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j, const CachePolicy& p, uint32_t step) {
    const uint32_t L = cache.length(layer, head);
    const uint32_t n = std::min(p.cam_n, L - 1 - j);
    if (n == 0) return;
    float sum = 0.0f;
    for (uint32_t k = 1; k <= n; k++) sum += cache.acc(layer, head, cache.slot(layer, head, j + k));
    const float mean = sum / static_cast<float>(n);
    const float acc_j = cache.acc(layer, head, cache.slot(layer, head, j));
    // min(1, acc_j / mean); the official code turns 0/0 into 0.
    const float probability = mean > 0.0f ? std::min(1.0f, acc_j / mean) : (acc_j > 0.0f ? 1.0f : 0.0f);
    if (!(cam_uniform(p.seed, layer, head, step) < probability)) return;
    const float* from = cache.value(layer, head, cache.slot(layer, head, j));
    for (uint32_t k = 1; k <= n; k++) {
        float* into = cache.value(layer, head, cache.slot(layer, head, j + k));
        for (uint32_t d = 0; d < cache.head_dim(); d++) into[d] = cache.stored(into[d] + from[d] / static_cast<float>(n));
    }
}

void compress_layer(KvCache& cache, uint32_t layer, const CachePolicy& p, const std::vector<float>& head_mean_attention,
                    uint32_t step) {
    if (!p.compresses()) return;
    for (uint32_t head = 0; head < cache.n_kv_heads(); head++) {
        if (cache.length(layer, head) <= p.budget) continue;
        uint32_t j = 0;
        switch (p.kind) {
            case PolicyKind::streaming:
                j = select_oldest(p);
                break;
            case PolicyKind::cam:
                j = select_oldest(p);
                merge_cam(cache, layer, head, j, p, step);
                break;
            case PolicyKind::h2o:
                j = select_lowest_sum(cache, layer, head, p);
                break;
            case PolicyKind::tova:
                j = select_lowest_last(head_mean_attention, p);  // one choice for the whole layer
                break;
            case PolicyKind::evict:
                j = select_lowest_average(cache, layer, head, p);
                break;
            case PolicyKind::weightedkv:
                j = select_lowest_average(cache, layer, head, p);
                merge_weighted(cache, layer, head, j);
                break;
            case PolicyKind::full:
                break;
        }
        cache.remove(layer, head, j);
    }
}

}  // namespace wkv
