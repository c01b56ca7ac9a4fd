#include "engine.hpp"

#include <algorithm>
#include <stdexcept>

#include "error.hpp"

namespace wkv {

namespace {

void check_token(const ModelConfig& c, int32_t token) {
    if (token < 0 || static_cast<uint32_t>(token) >= c.vocab_size) {
        throw Error("token id " + std::to_string(token) + " is outside the vocabulary");
    }
}

}  // namespace

void check_step(const ModelConfig& c, const CacheSettings& settings, uint32_t entries, const SequenceStep& step) {
    check_token(c, step.token);
    if (step.output == StepOutput::nll) check_token(c, step.target);
    if (entries >= settings.policy.slots()) {
        throw Error("KV cache is full (" + std::to_string(settings.policy.slots()) + " entries per layer and head)");
    }
    // Original positions rotate keys by the position itself: the RoPE table ends at the context.
    if (settings.positions == PositionMode::original && step.pos >= c.context) {
        throw Error("position " + std::to_string(step.pos) + " is past the model's context of " +
                    std::to_string(c.context) + " (original positions; --positions cache keeps them inside it)");
    }
}

Sequence::Sequence(Engine& engine, uint32_t seq) : engine_(engine), seq_(seq), steps_(engine.size()) {
    if (seq >= engine.size()) throw std::logic_error("Sequence: the engine has no such sequence");
    for (SequenceStep& s : steps_) s.active = false;
}

void Sequence::run(const SequenceStep& step) {
    steps_[seq_] = step;
    engine_.step(steps_);
}

const std::vector<float>& Sequence::forward(int32_t token, uint32_t pos) {
    run({true, token, pos, StepOutput::logits, 0});
    logits_ = engine_.logits(seq_);
    return logits_;
}

int32_t Sequence::next_token(int32_t token, uint32_t pos, Sampler& sampler) {
    int32_t next;
    if (!sampler.greedy()) {
        next = sampler.sample(forward(token, pos));  // top-p stays on the host (docs/results.md)
    } else {
        run({true, token, pos, StepOutput::token, 0});
        next = engine_.token(seq_);
    }
    if (next < 0) throw broken_logits_error(pos);
    return next;
}

Error broken_logits_error(uint32_t pos) {
    return Error("the model's logits after position " + std::to_string(pos) +
                     " are not finite (NaN or infinity): its weights or the computation are broken",
                 ExitCode::model);
}

void Sequence::feed(int32_t token, uint32_t pos) { run({true, token, pos, StepOutput::none, 0}); }

double Sequence::nll(int32_t token, uint32_t pos, int32_t target) {
    run({true, token, pos, StepOutput::nll, target});
    return engine_.nll(seq_);
}

void check_prefill(const ModelConfig& c, const CacheSettings& settings, uint32_t entries,
                   std::span<const int32_t> tokens, uint32_t first_pos) {
    const CachePolicy& p = settings.policy;
    for (size_t i = 0; i < tokens.size(); i++) {
        check_step(c, settings, entries, {true, tokens[i], first_pos + static_cast<uint32_t>(i), StepOutput::none, 0});
        entries = p.compresses() ? std::min(entries + 1, p.budget) : entries + 1;
    }
}

}  // namespace wkv
