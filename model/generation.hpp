// One sequence of an engine as generate, chat and every serve slot drive it:
// prompt tokens fed through the sequence's cache, then tokens sampled one step
// at a time until a stop condition. The cache carries over between calls, so a
// conversation feeds only each turn's new tokens; the cache policy keeps it a
// fixed size. The reply is taken step by step (next_step, then advance), so
// that one engine step can advance the Generators of many sequences (serve);
// generate() is that loop for a sequence run alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"
#include "utf8_stream.hpp"

namespace wkv {

enum class StopReason {
    length,       // max_tokens were generated
    end_of_text,  // the model sampled EOS, BOS, an end of generation or a stop token
    stopped,      // on_text returned false
};

struct GenerationStats {
    int64_t tokens = 0;  // tokens generated (EOS not counted)
    double seconds = 0;  // wall time of the generation loop
    double tokens_per_second() const { return seconds > 0 ? static_cast<double>(tokens) / seconds : 0.0; }
};

class Generator {
public:
    // Drives sequence `seq` of `engine`. Besides EOS, BOS and the vocabulary's ends of
    // generation, `stop_tokens` end a reply too (a chat template's end of turn).
    Generator(Engine& engine, const Tokenizer& tokenizer, SamplerSettings sampler,
              std::vector<int32_t> stop_tokens = {}, uint32_t seq = 0);

    // --- The prompt ---
    // Appends tokens to the sequence. Every token before the last goes into the
    // cache (Engine::prefill without logits: nothing is computed or read back that
    // nobody uses); the last waits, for the next step runs it to predict the first
    // new token. A token still waiting from before goes in first. queue() only
    // lines them up; feed() puts up to `max_tokens` of them in and returns how many
    // still wait; append() is both, all at once, telling `fed` how many have gone
    // in so far (a long prompt takes a while).
    void queue(const std::vector<int32_t>& tokens);
    size_t feed(size_t max_tokens);
    void append(const std::vector<int32_t>& tokens, const std::function<void(size_t fed)>& fed = {});
    bool feeding() const { return fed_ < to_feed_.size(); }  // prompt tokens queued, not yet in the cache

    // --- The reply, a step at a time ---
    void begin_reply();  // a new reply: its text, count and clock start here
    // The step the sequence takes next: its waiting token, asking the engine for
    // the greedy token or, when sampling, the logits. Needs a waiting token and
    // nothing left to feed.
    SequenceStep next_step() const;
    // After the engine ran next_step(): samples the next token (it waits as the
    // next step's). Returns the text it adds, in whole UTF-8 characters (a token
    // that ends inside one adds "", and its end comes with a later token), or
    // nothing when it ends the reply (EOS, BOS or a stop token, which print nothing).
    // Throws broken_logits_error() where the logits are NaN or infinite.
    std::optional<std::string> advance();
    // The reply's end: the bytes of a character it never completed, as U+FFFD ("" if none).
    std::string end_reply();

    // The loop for a sequence run alone: up to max_tokens, each given to on_text as
    // advance() gives it. Stops at the end of the reply, after max_tokens, or when
    // on_text returns false. Needs a waiting token (append first).
    StopReason generate(int64_t max_tokens, const std::function<bool(std::string_view)>& on_text);

    // Tokens in the sequence so far, the waiting one included: the next one's position.
    uint32_t length() const { return next_pos_ + static_cast<uint32_t>(to_feed_.size() - fed_) + (pending_ ? 1 : 0); }
    uint32_t fed() const { return next_pos_; }  // tokens in the cache
    // The token waiting: the last one sampled (the stop token that ended a reply).
    std::optional<int32_t> waiting() const { return pending_; }
    const GenerationStats& stats() const { return stats_; }  // of the current or last reply
    uint32_t seq() const { return seq_; }
    void set_sampling(SamplerSettings settings) { sampler_ = Sampler(settings); }
    // Generates through EOS and BOS (they print nothing): for benchmarks and soak runs.
    void ignore_end_of_text() { stop_tokens_.clear(); }
    void reset();  // a new sequence: the cache emptied, nothing waiting

private:
    Engine& engine_;
    const Tokenizer& tokenizer_;
    Sampler sampler_;
    std::vector<int32_t> stop_tokens_;
    uint32_t seq_;
    uint32_t next_pos_ = 0;         // position of the next token fed
    std::vector<int32_t> to_feed_;  // queued prompt tokens; those before fed_ are in
    size_t fed_ = 0;
    std::optional<int32_t> pending_;  // appended or sampled, not yet fed
    Utf8Stream text_;                 // the reply's bytes, released in whole characters
    GenerationStats stats_;
    double started_ = 0;  // the reply's start, in seconds of the steady clock
};

}  // namespace wkv
