#include "policy.hpp"

#include <algorithm>

#include "error.hpp"

namespace wkv {

namespace {

constexpr uint32_t kDefaultSinks = 4;  // spec §2.5: "4 initial tokens are retained"
constexpr uint32_t kDefaultCamN = 16;  // spec §6.4: the official perplexity code's n
// The full cache's default size: the model's context, but at most this, so a
// model that claims a long context asks for no multi-GiB cache by default.
constexpr uint32_t kDefaultFullCache = 4096;

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

std::string describe(const CachePolicy& p) {
    std::string s = std::string(policy_name(p.kind)) + " budget=" + std::to_string(p.budget);
    if (p.compresses()) s += " sinks=" + std::to_string(p.sinks) + " recent=" + std::to_string(p.recent);
    if (p.kind == PolicyKind::cam) s += " n=" + std::to_string(p.cam_n) + " seed=" + std::to_string(p.seed);
    return s;
}

CachePolicy layer_policy(const CachePolicy& chosen, uint32_t window) {
    if (window == 0 || (!chosen.compresses() && chosen.budget <= window)) return chosen;
    CachePolicy w;
    w.kind = PolicyKind::streaming;
    w.budget = window - 1;  // (the loader refuses a window below 2)
    return w;
}

std::vector<uint32_t> CacheSettings::layer_slots(const ModelConfig& c) const {
    std::vector<uint32_t> slots;
    for (uint32_t l = 0; l < c.n_layers; l++) slots.push_back(layer(c, l).slots());
    return slots;
}

uint32_t CacheSettings::positions_held(const ModelConfig& c) const {
    if (positions == PositionMode::original) return c.context;
    const std::vector<uint32_t> slots = layer_slots(c);
    return *std::max_element(slots.begin(), slots.end());
}

namespace {

bool takes_sinks(const PolicyInfo& info) { return info.compress_head != nullptr; }
bool takes_recent(const PolicyInfo& info) { return info.compress_head != nullptr && info.recent != RecentRule::window; }

}  // namespace

PolicyRequest request_for(const PolicyRequest& r, PolicyKind kind) {
    const PolicyInfo& info = policy_info(kind);
    PolicyRequest out = r;
    out.kind = kind;
    if (!takes_sinks(info)) out.sinks.reset();
    if (!takes_recent(info)) out.recent.reset();
    if (!info.takes_cam_flags) {
        out.cam_n.reset();
        out.seed.reset();
    }
    return out;
}

namespace {

constexpr std::pair<PolicySetting, const char*> kSettingNames[] = {
    {PolicySetting::policy, "policy"}, {PolicySetting::budget, "budget"}, {PolicySetting::sinks, "sinks"},
    {PolicySetting::recent, "recent"}, {PolicySetting::cam_n, "cam_n"},   {PolicySetting::cam_seed, "cam_seed"},
};

std::string plain_name(PolicySetting s) {
    for (const auto& [setting, name] : kSettingNames) {
        if (setting == s) return name;
    }
    return "?";
}

std::string fill_in(const std::string& message_template, std::string (*name_of)(PolicySetting)) {
    std::string out = message_template;
    for (const auto& [setting, name] : kSettingNames) {
        const std::string placeholder = std::string("{") + name + "}";
        for (size_t at = out.find(placeholder); at != std::string::npos; at = out.find(placeholder, at)) {
            const std::string replacement = name_of(setting);
            out.replace(at, placeholder.size(), replacement);
            at += replacement.size();
        }
    }
    return out;
}

}  // namespace

PolicyError::PolicyError(std::string message_template)
    : Error(fill_in(message_template, plain_name)), template_(std::move(message_template)) {}

std::string PolicyError::message(std::string (*name_of)(PolicySetting)) const { return fill_in(template_, name_of); }

CachePolicy resolve_policy(const PolicyRequest& r, uint32_t model_context) {
    const PolicyInfo& info = policy_info(r.kind);
    const std::string name = info.name;
    CachePolicy p;
    p.kind = r.kind;
    if ((r.cam_n || r.seed) && !info.takes_cam_flags)
        throw PolicyError("{cam_n} and {cam_seed} apply to {policy} cam only");
    p.cam_n = r.cam_n.value_or(kDefaultCamN);
    p.seed = r.seed.value_or(0);
    if (p.cam_n < 1 || p.cam_n > 4096)
        throw PolicyError("{cam_n} " + std::to_string(p.cam_n) + " is out of range (1..4096)");
    if (!info.compress_head) {
        p.budget = r.budget.value_or(std::min(model_context, kDefaultFullCache));
        if (p.budget == 0) throw PolicyError("{budget} must be at least 1");
        if (p.budget > model_context) {
            throw PolicyError("{budget} " + std::to_string(p.budget) + " is larger than the model's context of " +
                              std::to_string(model_context) +
                              "; the full cache cannot hold more (use a compressing {policy})");
        }
        if ((r.sinks && !takes_sinks(info)) || (r.recent && !takes_recent(info))) {
            throw PolicyError("{sinks} and {recent} do not apply to {policy} " + name);
        }
        return p;
    }
    if (!r.budget) throw PolicyError("{policy} " + name + " needs {budget} M (entries kept per layer and KV head)");
    p.budget = *r.budget;
    if (p.budget < 1 || p.budget > (1u << 20))
        throw PolicyError("{budget} " + std::to_string(p.budget) + " is out of range (1..1048576)");
    p.sinks = r.sinks.value_or(info.default_sinks);
    if (p.sinks >= p.budget) {
        throw PolicyError("{sinks} " + std::to_string(p.sinks) + " must be smaller than {budget} " +
                          std::to_string(p.budget));
    }
    switch (info.recent) {
        case RecentRule::window:
            if (r.recent && !takes_recent(info))
                throw PolicyError("{recent} does not apply to {policy} " + name + ": its window is budget - sinks");
            p.recent = p.budget - p.sinks;
            return p;  // always something to drop: the oldest entry of the window
        case RecentRule::none: p.recent = r.recent.value_or(0); break;
        case RecentRule::half: p.recent = r.recent.value_or(p.budget / 2 > p.sinks ? p.budget / 2 - p.sinks : 0); break;
    }
    // At L = budget + 1 entries the candidates [S, L - R) must not be empty; some
    // policies never take the newest entry either.
    const uint32_t protected_newest = info.keeps_newest ? std::max(p.recent, 1u) : p.recent;
    if (p.sinks + protected_newest > p.budget) {
        throw PolicyError("{sinks} " + std::to_string(p.sinks) + " plus {recent} " + std::to_string(p.recent) +
                          " leave no entry for {policy} " + name + " to drop at {budget} " + std::to_string(p.budget));
    }
    return p;
}

uint32_t select_oldest(const CachePolicy& p) { return p.sinks; }

uint32_t select_lowest_sum(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p) {
    const uint32_t L = cache.length(layer, head);
    return argmin(p.sinks, L - p.recent,
                  [&](uint32_t i) { return cache.acc(layer, head, cache.slot(layer, head, i)); });
}

uint32_t select_lowest_last(std::span<const float> head_mean_attention, const CachePolicy& p) {
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
    const uint32_t from_slot = cache.slot(layer, head, j), into_slot = cache.slot(layer, head, j + 1);
    const float* from = cache.value(layer, head, from_slot);
    float* into = cache.value(layer, head, into_slot);
    for (uint32_t d = 0; d < cache.head_dim(); d++) {
        into[d] = sum > 0.0f ? (w1 * from[d] + w2 * into[d]) / sum : (from[d] + into[d]) * 0.5f;
    }
    cache.round_value(into);  // combined in f32 from what both hold, then stored once
    cache.note_merge(layer, head, from_slot, into_slot, sum > 0.0f ? w1 / sum : 0.5f);
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

bool merge_cam(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j, const CachePolicy& p, uint32_t step) {
    const uint32_t L = cache.length(layer, head);
    const uint32_t n = std::min(p.cam_n, L - 1 - j);
    if (n == 0) return false;
    float sum = 0.0f;
    for (uint32_t k = 1; k <= n; k++) sum += cache.acc(layer, head, cache.slot(layer, head, j + k));
    const float mean = sum / static_cast<float>(n);
    const float acc_j = cache.acc(layer, head, cache.slot(layer, head, j));
    // min(1, acc_j / mean); the official code turns 0/0 into 0.
    const float probability = mean > 0.0f ? std::min(1.0f, acc_j / mean) : (acc_j > 0.0f ? 1.0f : 0.0f);
    if (!(cam_uniform(p.seed, layer, head, step) < probability)) return false;
    const uint32_t from_slot = cache.slot(layer, head, j);
    const float* from = cache.value(layer, head, from_slot);
    for (uint32_t k = 1; k <= n; k++) {
        const uint32_t into_slot = cache.slot(layer, head, j + k);
        float* into = cache.value(layer, head, into_slot);
        for (uint32_t d = 0; d < cache.head_dim(); d++) into[d] = into[d] + from[d] / static_cast<float>(n);
        cache.round_value(into);
        cache.note_merge(layer, head, from_slot, into_slot, 1.0f / static_cast<float>(n));
    }
    return true;
}

namespace {

// --- the policies: what each drops, and what it merges first ----------------

Eviction compress_streaming(KvCache&, uint32_t, uint32_t, const CachePolicy& p, const LayerScores&) {
    return {select_oldest(p)};
}

Eviction compress_h2o(KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p, const LayerScores&) {
    return {select_lowest_sum(cache, layer, head, p)};
}

Eviction compress_tova(KvCache&, uint32_t, uint32_t, const CachePolicy& p, const LayerScores& s) {
    return {select_lowest_last(s.head_mean, p)};  // the same index in every head of the layer
}

Eviction compress_cam(KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p, const LayerScores& s) {
    const uint32_t j = select_oldest(p);
    return {j, merge_cam(cache, layer, head, j, p, s.step)};
}

Eviction compress_evict(KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p, const LayerScores&) {
    return {select_lowest_average(cache, layer, head, p)};
}

Eviction compress_weightedkv(KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p, const LayerScores&) {
    const uint32_t j = select_lowest_average(cache, layer, head, p);
    merge_weighted(cache, layer, head, j);
    return {j, true};
}

// The policy table. Layouts and defaults: spec §5.
constexpr PolicyInfo kPolicies[] = {
    // kind, name, summary,
    //   default sinks, recent, keeps newest, per layer, uses head mean, takes cam flags, compress_head
    {PolicyKind::full, "full", "drops nothing; the budget is the cache size, at most the model's context", 0,
     RecentRule::none, false, false, false, false, nullptr},
    {PolicyKind::streaming, "streaming", "StreamingLLM: the oldest entry after the sinks", kDefaultSinks,
     RecentRule::window, false, false, false, false, compress_streaming},
    {PolicyKind::h2o, "h2o", "H2O: the lowest accumulated attention outside sinks and recent window", kDefaultSinks,
     RecentRule::half, false, false, false, false, compress_h2o},
    {PolicyKind::tova, "tova",
     "TOVA: the lowest last-step attention averaged over the layer's heads, one choice per layer", 0, RecentRule::none,
     false, true, true, false, compress_tova},
    {PolicyKind::cam, "cam",
     "CaM: the oldest entry after the sinks, its value added to the next n with some probability", kDefaultSinks,
     RecentRule::window, false, false, false, true, compress_cam},
    {PolicyKind::evict, "evict", "WeightedKV's ablation: the lowest average attention in the middle, no merge",
     kDefaultSinks, RecentRule::half, true, false, false, false, compress_evict},
    {PolicyKind::weightedkv, "weightedkv",
     "WeightedKV: the lowest average attention in the middle, its value merged into its right neighbour", kDefaultSinks,
     RecentRule::half, true, false, false, false, compress_weightedkv},
};

}  // namespace

std::span<const PolicyInfo> policy_table() { return kPolicies; }

const PolicyInfo& policy_info(PolicyKind kind) {
    for (const PolicyInfo& p : kPolicies) {
        if (p.kind == kind) return p;
    }
    throw std::logic_error("policy_info: a PolicyKind without a row in the table");
}

std::optional<PolicyKind> parse_policy_name(std::string_view name) {
    for (const PolicyInfo& p : kPolicies) {
        if (name == p.name) return p.kind;
    }
    return std::nullopt;
}

const char* policy_name(PolicyKind kind) { return policy_info(kind).name; }

std::string policy_names() {
    std::string s;
    for (const PolicyInfo& p : kPolicies) s += (s.empty() ? "" : ", ") + std::string(p.name);
    return s;
}

void compress_layer(KvCache& cache, uint32_t layer, const CachePolicy& p, const LayerScores& scores) {
    const PolicyInfo& info = policy_info(p.kind);
    if (!info.compress_head) return;
    for (uint32_t head = 0; head < cache.n_kv_heads(); head++) {
        if (cache.length(layer, head) <= p.budget) continue;
        const Eviction e = info.compress_head(cache, layer, head, p, scores);
        cache.remove(layer, head, e.index, e.merged);
    }
}

}  // namespace wkv
