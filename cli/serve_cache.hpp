// GET /v1/cache[?heads=1] (with --cache-view, and the X-Cache-Token a reply
// handed out): what the KV cache of that reply's slot holds, as JSON the demo
// page draws. Summarised per token position (how many (layer, KV head)
// caches hold it, per layer, and how many of those hold a merged value), over
// the conversation's newest SlotPool::kLoggedTokens positions at most, with
// each token's text; the entries of every head only with heads=1. A model with
// sliding-window layers also gets each layer's policy (a window's is its own).
#pragma once

#include <nlohmann/json.hpp>

#include "policy.hpp"
#include "serve_slots.hpp"
#include "tokenizer.hpp"

namespace wkv {

nlohmann::json cache_view_json(const SlotView& v, const CacheSettings& cache, const ModelConfig& config,
                               const Tokenizer& tokenizer, bool heads);

}  // namespace wkv
