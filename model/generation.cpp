#include "generation.hpp"

#include <chrono>
#include <stdexcept>

namespace wkv {

Generator::Generator(Engine& engine, const Tokenizer& tokenizer, SamplerSettings sampler)
    : engine_(engine), tokenizer_(tokenizer), sampler_(sampler) {}

void Generator::append(const std::vector<int32_t>& tokens, const std::function<void(size_t fed)>& fed) {
    for (size_t i = 0; i < tokens.size(); i++) {
        if (pending_) {
            engine_.feed(*pending_, next_pos_++);
            if (fed) fed(i);
        }
        pending_ = tokens[i];
    }
}

StopReason Generator::generate(int64_t max_tokens, const std::function<bool(std::string_view)>& on_text) {
    if (!pending_) throw std::logic_error("Generator::generate: nothing to continue from (append a prompt first)");
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    stats_ = {};
    StopReason reason = StopReason::length;
    while (stats_.tokens < max_tokens) {
        const int32_t token = *pending_;
        const int32_t next = sampler_.sample(engine_.forward(token, next_pos_++));
        pending_ = next;
        if (next == tokenizer_.eos_id() || next == tokenizer_.bos_id()) {
            reason = StopReason::end_of_text;
            break;
        }
        stats_.tokens++;
        if (!on_text(tokenizer_.decode_piece(token, next))) {
            reason = StopReason::stopped;
            break;
        }
    }
    stats_.seconds = std::chrono::duration<double>(clock::now() - start).count();
    return reason;
}

void Generator::reset() {
    engine_.reset();
    next_pos_ = 0;
    pending_.reset();
}

}  // namespace wkv
