#include "generation.hpp"

#include "utf8_stream.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace wkv {

Generator::Generator(Engine& engine, const Tokenizer& tokenizer, SamplerSettings sampler, std::vector<int32_t> stop_tokens)
    : engine_(engine), tokenizer_(tokenizer), sampler_(sampler), stop_tokens_(std::move(stop_tokens)) {
    stop_tokens_.push_back(tokenizer.eos_id());
    stop_tokens_.push_back(tokenizer.bos_id());
}

void Generator::append(const std::vector<int32_t>& tokens, const std::function<void(size_t fed)>& fed) {
    if (tokens.empty()) return;
    // What goes into the cache now: a token still waiting, and all but the last
    // of these, in pieces so that a long prompt can report how it goes.
    std::vector<int32_t> now;
    if (pending_) now.push_back(*pending_);
    now.insert(now.end(), tokens.begin(), tokens.end() - 1);
    pending_ = tokens.back();
    constexpr size_t kPiece = 256;
    for (size_t done = 0; done < now.size(); done += kPiece) {
        const size_t n = std::min(kPiece, now.size() - done);
        engine_.feed(std::span<const int32_t>(now).subspan(done, n), next_pos_);
        next_pos_ += static_cast<uint32_t>(n);
        if (fed) fed(done + n);
    }
}

StopReason Generator::generate(int64_t max_tokens, const std::function<bool(std::string_view)>& on_text) {
    if (!pending_) throw std::logic_error("Generator::generate: nothing to continue from (append a prompt first)");
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    stats_ = {};
    StopReason reason = StopReason::length;
    Utf8Stream text;  // whole characters only: a token may end inside one
    while (stats_.tokens < max_tokens) {
        const int32_t token = *pending_;
        const int32_t next = engine_.next_token(token, next_pos_++, sampler_);
        pending_ = next;
        if (std::find(stop_tokens_.begin(), stop_tokens_.end(), next) != stop_tokens_.end()) {
            reason = StopReason::end_of_text;
            break;
        }
        stats_.tokens++;
        if (!on_text(text.push(tokenizer_.decode_piece(token, next)))) {
            reason = StopReason::stopped;
            break;
        }
    }
    // A character the reply never completed; a reply ends whole, so the next starts clean.
    if (text.holding()) on_text(text.finish());
    stats_.seconds = std::chrono::duration<double>(clock::now() - start).count();
    return reason;
}

void Generator::reset() {
    engine_.reset();
    next_pos_ = 0;
    pending_.reset();
}

}  // namespace wkv
