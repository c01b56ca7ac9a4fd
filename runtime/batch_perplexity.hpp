// Perplexity windows for a whole batch at once: every sequence of the
// BatchEngine (one per cache setting) reads the same tokens, so one step
// serves them all and each weight is read once per token for the batch.
#pragma once

#include <vector>

#include "batch_engine.hpp"
#include "perplexity.hpp"

namespace wkv {

// The batched counterpart of evaluate_window: resets every sequence, runs the
// window, returns one NllSum per sequence.
std::vector<NllSum> evaluate_window_batch(BatchEngine& engine, const std::vector<int32_t>& tokens, const Window& w,
                                          const TokenCallback& on_token = {}, bool* complete = nullptr);

}  // namespace wkv
