// The cache policies of the paper and its baselines, on the CPU: the exact,
// readable oracle the policy shaders are tested against
// (../shared/docs/weightedkv-spec.md §2 WeightedKV, §6 the baselines).
//
// Every policy has the same shape: when a layer's cache holds L = budget + 1
// entries after a step (spec §1: append, attend, update scores, then
// compress), `select` picks the logical index to drop in each KV head and
// `merge` (for CaM and WeightedKV) folds its value into its neighbours
// before the entry leaves. Nothing else moves: the entry's slot goes back to
// the free list and the order table closes the gap.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kv_cache.hpp"

namespace wkv {

// Where RoPE places cached keys (spec §2.7).
enum class PositionMode {
    cache_index,  // keys stored before RoPE, rotated at their logical index each step;
                  // the query sits at index L-1 (StreamingLLM's pos-shift; the default)
    original,     // keys stored rotated at their absolute position
};

enum class PolicyKind { full, streaming, h2o, tova, cam, evict, weightedkv };

struct CachePolicy {
    PolicyKind kind = PolicyKind::full;
    uint32_t budget = 0;   // m: entries kept per layer and KV head after every step
    uint32_t sinks = 0;    // S: the first entries, never dropped
    uint32_t recent = 0;   // R: the newest entries (the new token included), never dropped
    uint32_t cam_n = 16;   // CaM: how many following values share an evicted value
    uint32_t seed = 0;     // CaM: seed of the Bernoulli draws

    bool compresses() const { return kind != PolicyKind::full; }
    // Physical slots per layer and KV head: one more than the budget while compressing,
    // because the new token is appended before the policy runs.
    uint32_t slots() const { return compresses() ? budget + 1 : budget; }
};

// What the user asked for; resolve_policy fills in the defaults (spec §5) and checks it.
struct PolicyRequest {
    PolicyKind kind = PolicyKind::full;
    std::optional<uint32_t> budget;  // default: the model's context for full; required otherwise
    std::optional<uint32_t> sinks;   // default 4 (0 for TOVA)
    std::optional<uint32_t> recent;  // default m/2 - S for h2o, evict, weightedkv; 0 for TOVA
    uint32_t cam_n = 16;
    uint32_t seed = 0;
};

// Throws wkv::Error naming the flag (--budget, --sinks, --recent, --cam-n) when the request cannot work.
CachePolicy resolve_policy(const PolicyRequest& request, uint32_t model_context);

std::optional<PolicyKind> parse_policy_name(std::string_view name);
const char* policy_name(PolicyKind kind);
std::string describe(const CachePolicy& p);  // "weightedkv budget=64 sinks=4 recent=28"

// Everything about the cache an engine is built with.
struct CacheSettings {
    CachePolicy policy;
    PositionMode positions = PositionMode::cache_index;
    KvType kv_type = KvType::f32;
};
// A full cache of `entries` (no eviction).
inline CacheSettings full_cache(uint32_t entries, PositionMode positions = PositionMode::cache_index) {
    CachePolicy p;
    p.budget = entries;
    return {p, positions};
}

// --- the policies, one function each ---------------------------------------

// StreamingLLM and CaM: the oldest entry that is not a sink.
uint32_t select_oldest(const CachePolicy& p);
// H2O: the lowest accumulated attention among [S, L - R); first index on ties.
uint32_t select_lowest_sum(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p);
// TOVA: the lowest last-step attention averaged over the layer's query heads, among [S, L - R).
uint32_t select_lowest_last(const std::vector<float>& head_mean_attention, const CachePolicy& p);
// WeightedKV and its ablation: the lowest average attention acc/cnt among
// [S, L - max(R, 1)): the newest entry is never chosen, it has no right neighbour.
uint32_t select_lowest_average(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p);

// WeightedKV (spec §2.3): V[j+1] = (a_j V[j] + a_{j+1} V[j+1]) / (a_j + a_{j+1}) with a = acc/cnt;
// equal weights when both are 0. The receiver keeps its key, acc and cnt.
void merge_weighted(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j);
// CaM (spec §6.4): with probability min(1, acc_j / mean acc of the next n entries), V[j] / n is
// added to each of the next n values (n = min(cam_n, entries after j)).
void merge_cam(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j, const CachePolicy& p, uint32_t step);
// CaM's uniform draw in [0, 1): a counter-based hash, so the CPU and the GPU draw the same numbers.
float cam_uniform(uint32_t seed, uint32_t layer, uint32_t head, uint32_t step);
uint32_t hash32(uint32_t x);

// One compression of `layer` (every KV head) when it holds budget + 1 entries.
// `head_mean_attention` is the last step's attention averaged over the layer's
// query heads, by logical index (TOVA's score); `step` numbers the tokens fed
// since the cache was empty (CaM's draws).
void compress_layer(KvCache& cache, uint32_t layer, const CachePolicy& p, const std::vector<float>& head_mean_attention,
                    uint32_t step);

}  // namespace wkv
