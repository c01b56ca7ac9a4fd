#include "perplexity.hpp"

#include <algorithm>

namespace wkv {

std::vector<int32_t> document_tokens(const Tokenizer& tokenizer, std::string_view text, uint64_t max_tokens) {
    if (max_tokens == 0) return tokenizer.encode(text, /*add_bos=*/true);
    // Tokens that a cut could still change: those nearest the cut. Far more than
    // a tokeniser's merges reach across a line end.
    constexpr uint64_t kMargin = 256;
    for (uint64_t bytes = (max_tokens + kMargin) * 8;; bytes *= 2) {
        std::string_view prefix = text;
        if (bytes < text.size()) {
            prefix = text.substr(0, bytes);
            const size_t line_end = prefix.rfind('\n');
            if (line_end != std::string_view::npos && line_end > bytes / 2) prefix = prefix.substr(0, line_end + 1);
        }
        std::vector<int32_t> tokens = tokenizer.encode(prefix, /*add_bos=*/true);
        if (prefix.size() == text.size() || tokens.size() >= max_tokens + kMargin) {
            if (tokens.size() > max_tokens) tokens.resize(static_cast<size_t>(max_tokens));
            return tokens;
        }
    }
}

std::vector<Window> plan_windows(uint32_t n_tokens, uint32_t window, uint32_t stride) {
    std::vector<Window> out;
    if (n_tokens < 2 || window < 2 || stride < 1) return out;
    uint32_t previous_end = 0;
    for (uint32_t begin = 0;; begin += stride) {
        const uint32_t end = std::min(begin + window, n_tokens);
        out.push_back({begin, end, std::max(previous_end, begin + 1)});
        previous_end = end;
        if (end == n_tokens) break;
    }
    return out;
}

NllSum evaluate_window(Engine& engine, const std::vector<int32_t>& tokens, const Window& w, const TokenCallback& on_token,
                       bool* complete) {
    engine.reset();
    NllSum sum;
    if (complete) *complete = true;
    for (uint32_t t = w.begin; t + 1 < w.end; t++) {
        const uint32_t pos = t - w.begin;
        if (t + 1 >= w.first_scored) {
            sum.total_nll += engine.nll(tokens[t], pos, tokens[t + 1]);
            sum.scored++;
        } else {
            engine.feed(tokens[t], pos);
        }
        if (on_token && !on_token()) {
            if (complete) *complete = false;
            break;
        }
    }
    return sum;
}

}  // namespace wkv
