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
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "kv_cache.hpp"

namespace wkv {

// Where RoPE places cached keys (spec §2.7). The values are what the shaders read.
enum class PositionMode : uint32_t {
    cache_index = 0,  // keys stored before RoPE, rotated at their logical index each step;
                      // the query sits at index L-1 (StreamingLLM's pos-shift; the default)
    original = 1,     // keys stored rotated at their absolute position
};

enum class PolicyKind { full, streaming, h2o, tova, cam, evict, weightedkv };

struct CachePolicy {
    PolicyKind kind = PolicyKind::full;
    uint32_t budget = 0;  // m: entries kept per layer and KV head after every step
    uint32_t sinks = 0;   // S: the first entries, never dropped
    uint32_t recent = 0;  // R: the newest entries (the new token included), never dropped
    uint32_t cam_n = 16;  // CaM: how many following values share an evicted value
    uint32_t seed = 0;    // CaM: seed of the Bernoulli draws

    bool compresses() const { return kind != PolicyKind::full; }
    // Physical slots per layer and KV head: one more than the budget while compressing,
    // because the new token is appended before the policy runs.
    uint32_t slots() const { return compresses() ? budget + 1 : budget; }
};

// What a policy reads besides the cache when it compresses a layer.
struct LayerScores {
    std::span<const float> head_mean;  // last step's attention averaged over the layer's query heads,
                                       // by logical index (given only to policies with uses_head_mean)
    uint32_t step = 0;                 // tokens fed since the cache was empty (CaM's draws)
};

// What --recent means for a policy when it is not given.
enum class RecentRule {
    none,    // nothing protected (TOVA; --recent may set it)
    window,  // everything after the sinks is the window (StreamingLLM's layout); --recent does not apply
    half,    // m/2 - sinks, the paper's layout (spec §2.5); --recent may set it
};

// What a policy's compress_head decided for one KV head: the logical index
// to drop, and whether its value was merged into others first.
struct Eviction {
    uint32_t index;
    bool merged = false;
};

// One row of the policy table (model/policy.cpp): everything the runtime and
// the CLI need to know about a policy. Its shader is shaders/policy_NAME.comp.
struct PolicyInfo {
    PolicyKind kind;
    const char* name;
    const char* summary;  // one line: what it drops, for help and docs
    uint32_t default_sinks;
    RecentRule recent;
    bool keeps_newest;     // the newest entry is never a candidate, even with --recent 0 (it has no right neighbour)
    bool per_layer;        // one choice for the whole layer (TOVA), else one per KV head
    bool uses_head_mean;   // reads LayerScores::head_mean
    bool takes_cam_flags;  // --cam-n and --cam-seed apply
    // Applies the policy's merge, if it has one, and returns which entry of
    // `head` to drop; null for the full cache, which never drops.
    Eviction (*compress_head)(KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p,
                              const LayerScores& scores);
};

std::span<const PolicyInfo> policy_table();
const PolicyInfo& policy_info(PolicyKind kind);
std::string policy_names();  // "full, streaming, ...": for errors and help

// What the user asked for; resolve_policy fills in the defaults (spec §5) and checks it.
// Each field left empty takes the policy's default from the table; one given
// to a policy it does not apply to is an error.
struct PolicyRequest {
    PolicyKind kind = PolicyKind::full;
    std::optional<uint32_t> budget;  // default for full: the model's context, at most 4096; required otherwise
    std::optional<uint32_t> sinks;   // not for full
    std::optional<uint32_t> recent;  // not for full, nor where the window is budget - sinks
    std::optional<uint32_t> cam_n;   // CaM only (default 16)
    std::optional<uint32_t> seed;    // CaM only (default 0)
};

// The settings of a request (and the policy's name), as an error names them.
enum class PolicySetting { policy, budget, sinks, recent, cam_n, cam_seed };

// A request resolve_policy refuses. Its message names settings by placeholder
// ("{budget}"), so that each front end names them its own way: the CLI by its
// flags, message(name_of); what() uses the settings' plain names.
class PolicyError : public Error {
public:
    explicit PolicyError(std::string message_template);
    std::string message(std::string (*name_of)(PolicySetting)) const;

private:
    std::string template_;
};

// Throws PolicyError when the request cannot work or sets something the policy does not take.
CachePolicy resolve_policy(const PolicyRequest& request, uint32_t model_context);
// `r` for `kind`, without the fields `kind` does not take (for a grid of
// policies that share one set of flags, each taking what applies to it).
PolicyRequest request_for(const PolicyRequest& r, PolicyKind kind);

std::optional<PolicyKind> parse_policy_name(std::string_view name);
const char* policy_name(PolicyKind kind);
std::string describe(const CachePolicy& p);  // "weightedkv budget=64 sinks=4 recent=28"

// The cache of a layer that attends only to the last `window` positions, its own included
// (a sliding-window layer; 0: a global layer, which takes the chosen policy). A window is
// held exactly as the model was trained: StreamingLLM without sinks keeping window - 1
// entries between steps, so that each step attends over the window. A full cache too small
// to ever fill the window stays as chosen.
CachePolicy layer_policy(const CachePolicy& chosen, uint32_t window);

// Everything about the cache an engine is built with.
struct CacheSettings {
    CachePolicy policy;  // of the global layers (layer() for each layer)
    PositionMode positions = PositionMode::cache_index;
    // f32 here, so that an engine built in code is exact unless it asks; what users get
    // by default (the CLI's --kv-type, the C API's wkv_cache_params_default) is f16.
    KvTypes kv_type = KvType::f32;

    // Layer l's policy in model `c`: the chosen one, or its window's.
    CachePolicy layer(const ModelConfig& c, uint32_t l) const { return layer_policy(policy, c.window(l)); }
    // Physical slots per KV head of each layer.
    std::vector<uint32_t> layer_slots(const ModelConfig& c) const;
    // The positions RoPE sees in this cache: cache indices stay below its largest
    // layer's slots; original positions run to the model's context.
    uint32_t positions_held(const ModelConfig& c) const;
};
// A full cache of `entries` (no eviction).
inline CacheSettings full_cache(uint32_t entries, PositionMode positions = PositionMode::cache_index) {
    CachePolicy p;
    p.budget = entries;
    return {p, positions};
}

// --- the building blocks of the policies -----------------------------------

// StreamingLLM and CaM: the oldest entry that is not a sink.
uint32_t select_oldest(const CachePolicy& p);
// H2O: the lowest accumulated attention among [S, L - R); first index on ties.
uint32_t select_lowest_sum(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p);
// TOVA: the lowest last-step attention averaged over the layer's query heads, among [S, L - R).
uint32_t select_lowest_last(std::span<const float> head_mean_attention, const CachePolicy& p);
// WeightedKV and its ablation: the lowest average attention acc/cnt among
// [S, L - max(R, 1)): the newest entry is never chosen, it has no right neighbour.
uint32_t select_lowest_average(const KvCache& cache, uint32_t layer, uint32_t head, const CachePolicy& p);

// WeightedKV (spec §2.3): V[j+1] = (a_j V[j] + a_{j+1} V[j+1]) / (a_j + a_{j+1}) with a = acc/cnt;
// equal weights when both are 0. The receiver keeps its key, acc and cnt, and notes the merge.
void merge_weighted(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j);
// CaM (spec §6.4): with probability min(1, acc_j / mean acc of the next n entries), V[j] / n is
// added to each of the next n values (n = min(cam_n, entries after j)); returns whether it was.
bool merge_cam(KvCache& cache, uint32_t layer, uint32_t head, uint32_t j, const CachePolicy& p, uint32_t step);
// CaM's uniform draw in [0, 1): a counter-based hash, so the CPU and the GPU draw the same numbers.
float cam_uniform(uint32_t seed, uint32_t layer, uint32_t head, uint32_t step);
uint32_t hash32(uint32_t x);

// One compression of `layer` (every KV head) when it holds budget + 1 entries:
// each head drops the entry its policy's compress_head returns.
void compress_layer(KvCache& cache, uint32_t layer, const CachePolicy& p, const LayerScores& scores);

}  // namespace wkv
