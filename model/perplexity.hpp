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
#include "tokenizer.hpp"

namespace wkv {

struct Window {
    uint32_t begin;         // first token fed
    uint32_t end;           // one past the last token of the window
    uint32_t first_scored;  // targets t in [first_scored, end) are scored
};

// A document's tokens, BOS first; with `max_tokens` (0: all), only its first
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

// Called after every token fed; returning false stops the window early (Ctrl-C).
using TokenCallback = std::function<bool()>;

// Runs one window through `engine` (reset first): feeds tokens[begin, end - 1),
// scoring token t + 1 where it is at or past first_scored. Sets *complete to
// false if `on_token` stopped it.
NllSum evaluate_window(Engine& engine, const std::vector<int32_t>& tokens, const Window& w, const TokenCallback& on_token = {},
                       bool* complete = nullptr);

}  // namespace wkv
