// What `wkv generate`, `chat` and `serve` share: a sequence of tokens fed
// through an engine's cache, and tokens sampled from it until a stop
// condition. The cache carries over between calls, so a conversation feeds
// only each turn's new tokens; the cache policy keeps it a fixed size.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "engine.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace wkv {

enum class StopReason {
    length,       // max_tokens were generated
    end_of_text,  // the model sampled EOS, BOS or a stop token
    stopped,      // on_text returned false
};

struct GenerationStats {
    int64_t tokens = 0;   // tokens generated (EOS not counted)
    double seconds = 0;   // wall time of the generation loop
    double tokens_per_second() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0; }
};

class Generator {
public:
    // Besides EOS and BOS, `stop_tokens` end a reply too (a chat template's end of turn).
    Generator(Engine& engine, const Tokenizer& tokenizer, SamplerSettings sampler, std::vector<int32_t> stop_tokens = {});

    // Appends tokens to the sequence. Every token before the last goes into the
    // cache at once, without logits (Engine::feed: nothing is computed or read
    // back that nobody uses); the last waits, for generate() runs it to predict
    // the first new token. A token still waiting from before is fed first.
    // `fed` is told how many of them have gone in so far (a long prompt takes a while).
    void append(const std::vector<int32_t>& tokens, const std::function<void(size_t fed)>& fed = {});

    // Samples up to max_tokens, each from the logits of the one before, and
    // gives on_text the text each one adds, in whole UTF-8 characters (a token
    // that ends inside one gives "", and its end comes with a later token). Stops before printing EOS or BOS,
    // after max_tokens, or when on_text returns false. The last token sampled
    // waits as the next append's first. Needs a waiting token (append first).
    StopReason generate(int64_t max_tokens, const std::function<bool(std::string_view)>& on_text);

    // Tokens in the sequence so far, the waiting one included: the next one's position.
    uint32_t length() const { return next_pos_ + (pending_ ? 1 : 0); }
    const GenerationStats& stats() const { return stats_; }  // of the last generate()
    // Generates through EOS and BOS (they print nothing): for benchmarks and soak runs.
    void ignore_end_of_text() { stop_tokens_.clear(); }
    void reset();  // a new sequence: the cache emptied, nothing waiting

private:
    Engine& engine_;
    const Tokenizer& tokenizer_;
    Sampler sampler_;
    std::vector<int32_t> stop_tokens_;
    uint32_t next_pos_ = 0;           // position of the next token fed
    std::optional<int32_t> pending_;  // appended or sampled, not yet fed
    GenerationStats stats_;
};

}  // namespace wkv
