// GET /v1/cache?slot=N[&heads=1]: what a slot's KV cache holds, as JSON the
// demo page draws. Summarised per token position (how many (layer, KV head)
// caches hold it, per layer, and how many of those hold a merged value), over
// the conversation's newest SlotPool::kLoggedTokens positions at most, with
// each token's text; the entries of every head only with heads=1.
#pragma once

#include <nlohmann/json.hpp>

#include "policy.hpp"
#include "serve_slots.hpp"
#include "tokenizer.hpp"

namespace wkv {

nlohmann::json cache_view_json(const SlotView& v, uint32_t slot, const CacheSettings& cache, const Tokenizer& tokenizer,
                               bool heads);

}  // namespace wkv
