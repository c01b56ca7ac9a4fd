// The KV cache flags every command that runs a model shares, and the one set
// of rules that turns them into cache settings (which flag applies to which
// policy comes from the policy table, model/policy.cpp).
#pragma once

#include <optional>
#include <vector>

#include "args.hpp"
#include "config.hpp"
#include "policy.hpp"

namespace wkv {

// --policy, --budget (and -c/--ctx-size), --sinks, --recent, --positions, --kv-type,
// --cam-n, --cam-seed. With `lists` (wkv ppl), --policy and --budget take
// comma-separated lists and -c is not offered.
std::vector<FlagSpec> cache_flags(bool lists = false);

// Every (policy, budget) the flags ask for: each compressing policy once per
// budget, the full cache once. A flag given must apply to at least one of the
// policies; each policy takes what applies to it. `full_budget` fixes the full
// cache's size (ppl: the window), and --budget then applies only to
// compressing policies.
std::vector<CacheSettings> cache_settings_list(const Args& args, const ModelConfig& config,
                                               std::optional<uint32_t> full_budget = std::nullopt);
// The one setting of a command that runs one sequence.
CacheSettings cache_settings(const Args& args, const ModelConfig& config);

}  // namespace wkv
