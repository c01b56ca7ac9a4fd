// Streaming sliding-window perplexity (spec §3): windows of `window` tokens
// every `stride` tokens, a fresh cache per window, tokens fed one at a time
// through the (compressed) cache, every token scored exactly once: the first
// window scores all its tokens after BOS, each later window only the tokens
// past the previous window's end.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "engine.hpp"
#include "policy.hpp"
#include "tokenizer.hpp"

namespace wkv {

struct Window {
    uint32_t begin;         // first token fed
    uint32_t end;           // one past the last token of the window
    uint32_t first_scored;  // targets t in [first_scored, end) are scored
};

// A document's tokens, BOS first where the vocabulary adds one (as
// llama-perplexity does; Qwen's adds none); with `max_tokens` (0: all), only its first
// max_tokens. Only as much of the text is read and tokenised as those need (a
// prefix that doubles until it holds them, cut at a line end, with a margin of
// tokens whose ends the cut cannot change), so a short run over a huge file
// stays in small memory.
std::vector<int32_t> document_tokens(const Tokenizer& tokenizer, std::string_view text, uint64_t max_tokens);

// The windows over a document of n tokens. Empty when n < 2 (nothing to predict).
std::vector<Window> plan_windows(uint32_t n_tokens, uint32_t window, uint32_t stride);

struct NllSum {
    double total_nll = 0;
    uint64_t scored = 0;

    double perplexity() const { return scored ? std::exp(total_nll / static_cast<double>(scored)) : NAN; }
    NllSum& operator+=(const NllSum& o) {
        total_nll += o.total_nll;
        scored += o.scored;
        return *this;
    }
};

// Perplexity windows on any engine, in batches. Every window is evaluated
// under several cache settings at once (the sequences of a lane share its
// tokens), and several lanes run side by side, each on its own window of its
// own document, taking the next window when one ends. So one step feeds
// lanes x settings sequences, and a GPU reads every weight once per token for
// all of them.

// One unit of work: a window over a document's tokens (which must outlive the run).
struct WindowTask {
    const std::vector<int32_t>* tokens;
    Window window;
};

// The settings of every lane, lane after lane: what an engine of `lanes` lanes is built with.
std::vector<CacheSettings> lane_settings(const std::vector<CacheSettings>& settings, uint32_t lanes);

// What a run reports as it goes; every member may be empty.
struct WindowEvents {
    std::function<void(size_t task)> started;
    std::function<void(size_t task, const std::vector<NllSum>& sums)> done;  // its NLL sum under each setting
    std::function<bool(uint32_t fed)> stepped;  // tokens the step fed; returning false stops the run (Ctrl-C)
    // After each step, for each lane that took one: its task, the lane's first
    // sequence (setting s is first_sequence + s) and the position fed in the
    // window. For traces: left empty, nothing is read.
    std::function<void(size_t task, uint32_t first_sequence, uint32_t pos)> observed;
    // A window's last step is done and its caches are still there (before `done`).
    std::function<void(size_t task, uint32_t first_sequence)> ending;
};

// Evaluates every task under each of `settings` settings on an engine built
// with lane_settings(those settings, lanes): sequence lane * settings + s runs
// setting s. Each window starts on a fresh cache and feeds its tokens one step
// at a time, scoring token t + 1 where it is at or past first_scored. Tasks
// start in order as lanes come free. Returns false if stopped early; tasks
// still running then are not reported done.
bool evaluate_windows(Engine& engine, uint32_t settings, const std::vector<WindowTask>& tasks,
                      const WindowEvents& events);

// One window under every sequence of the engine (one lane): one NllSum per sequence.
std::vector<NllSum> evaluate_window(Engine& engine, const std::vector<int32_t>& tokens, const Window& w);

}  // namespace wkv
