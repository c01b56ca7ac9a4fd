// Perplexity windows in batches. Every window is evaluated under several
// cache settings at once (the sequences of a lane share its tokens), and
// several lanes run side by side, each on its own window of its own document,
// taking the next window when one ends. So one step feeds lanes x settings
// sequences and every weight is read once per token for all of them.
#pragma once

#include <functional>
#include <vector>

#include "batch_engine.hpp"
#include "perplexity.hpp"

namespace wkv {

// One unit of work: a window over a document's tokens (which must outlive the run).
struct WindowTask {
    const std::vector<int32_t>* tokens;
    Window window;
};

// The settings of every lane, lane after lane: what a BatchEngine of `lanes` lanes is built with.
std::vector<CacheSettings> lane_settings(const std::vector<CacheSettings>& settings, uint32_t lanes);

// What a run reports as it goes; every member may be empty.
struct WindowEvents {
    std::function<void(size_t task)> started;
    std::function<void(size_t task, const std::vector<NllSum>& sums)> done;  // its NLL sum under each setting
    std::function<bool(uint32_t fed)> stepped;  // tokens the step fed; returning false stops the run (Ctrl-C)
};

// Evaluates every task under each of `settings` settings on an engine built
// with lane_settings(those settings, lanes): sequence lane * settings + s runs
// setting s. Tasks start in order as lanes come free. Returns false if stopped
// early; tasks still running then are not reported done.
bool evaluate_windows_batch(BatchEngine& engine, uint32_t settings, const std::vector<WindowTask>& tasks, const WindowEvents& events);

// One window under every sequence of the engine (one lane): one NllSum per sequence.
std::vector<NllSum> evaluate_window_batch(BatchEngine& engine, const std::vector<int32_t>& tokens, const Window& w);

}  // namespace wkv
