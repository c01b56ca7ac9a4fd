#include "generation.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace wkv {

namespace {

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Generator::Generator(Engine& engine, const Tokenizer& tokenizer, SamplerSettings sampler,
                     std::vector<int32_t> stop_tokens, uint32_t seq)
    : engine_(engine), tokenizer_(tokenizer), sampler_(sampler), stop_tokens_(std::move(stop_tokens)), seq_(seq) {
    if (seq >= engine.size()) throw std::logic_error("Generator: the engine has no such sequence");
    stop_tokens_.push_back(tokenizer.eos_id());
    stop_tokens_.push_back(tokenizer.bos_id());
    for (int32_t id : tokenizer.end_of_generation()) stop_tokens_.push_back(id);  // <|eot_id|>, <|im_end|>, ...
}

void Generator::queue(const std::vector<int32_t>& tokens) {
    if (tokens.empty()) return;
    if (!feeding()) {
        to_feed_.clear();
        fed_ = 0;
    }
    if (pending_) to_feed_.push_back(*pending_);
    to_feed_.insert(to_feed_.end(), tokens.begin(), tokens.end() - 1);
    pending_ = tokens.back();
}

size_t Generator::feed(size_t max_tokens) {
    const size_t n = std::min(max_tokens, to_feed_.size() - fed_);
    if (n) {
        engine_.prefill(seq_, std::span<const int32_t>(to_feed_).subspan(fed_, n), next_pos_, false);
        fed_ += n;
        next_pos_ += static_cast<uint32_t>(n);
    }
    return to_feed_.size() - fed_;
}

void Generator::append(const std::vector<int32_t>& tokens, const std::function<void(size_t fed)>& fed) {
    const size_t before = fed_;
    queue(tokens);
    // In pieces, so that a long prompt can report how it goes.
    constexpr size_t kPiece = 256;
    while (feed(kPiece)) {
        if (fed) fed(fed_ - before);
    }
    if (fed) fed(fed_ - before);
}

void Generator::begin_reply() {
    stats_ = {};
    text_ = Utf8Stream();
    started_ = now_seconds();
}

SequenceStep Generator::next_step() const {
    if (!pending_ || feeding())
        throw std::logic_error("Generator::next_step: nothing to continue from (append a prompt first)");
    // Greedy: the engine picks the token where the logits are.
    return {true, *pending_, next_pos_, sampler_.greedy() ? StepOutput::token : StepOutput::logits, 0};
}

std::optional<std::string> Generator::advance() {
    const int32_t previous = *pending_;
    const int32_t next = sampler_.greedy() ? engine_.token(seq_) : sampler_.sample(engine_.logits(seq_));
    if (next < 0) throw broken_logits_error(next_pos_);  // nothing follows: reset() before the sequence is used again
    next_pos_++;
    pending_ = next;
    stats_.seconds = now_seconds() - started_;
    if (std::find(stop_tokens_.begin(), stop_tokens_.end(), next) != stop_tokens_.end()) return std::nullopt;
    stats_.tokens++;
    return text_.push(tokenizer_.decode_piece(previous, next));
}

std::string Generator::end_reply() {
    stats_.seconds = now_seconds() - started_;
    return text_.holding() ? text_.finish() : std::string();
}

StopReason Generator::generate(int64_t max_tokens, const std::function<bool(std::string_view)>& on_text) {
    begin_reply();
    std::vector<SequenceStep> steps(engine_.size());
    for (SequenceStep& s : steps) s.active = false;
    StopReason reason = StopReason::length;
    while (stats_.tokens < max_tokens) {
        steps[seq_] = next_step();
        engine_.step(steps);
        const std::optional<std::string> text = advance();
        if (!text) {
            reason = StopReason::end_of_text;
            break;
        }
        if (!on_text(*text)) {
            reason = StopReason::stopped;
            break;
        }
    }
    // A character the reply never completed; a reply ends whole, so the next starts clean.
    const std::string rest = end_reply();
    if (!rest.empty()) on_text(rest);
    return reason;
}

void Generator::reset() {
    engine_.reset(seq_);
    next_pos_ = 0;
    to_feed_.clear();
    fed_ = 0;
    pending_.reset();
}

}  // namespace wkv
