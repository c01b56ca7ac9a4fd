// The generation loop shared by generate, chat and serve (model/generation),
// driven through a scripted engine that records every call.
#include <doctest/doctest.h>

#include <string>

#include "generation.hpp"
#include "support.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// An engine whose logits always put the next token of a script first, and
// which records how it was called.
class ScriptedEngine final : public Engine {
public:
    ScriptedEngine(std::vector<int32_t> script, int32_t vocab) : script_(std::move(script)), logits_(vocab, 0.0f) {}

    const std::vector<float>& forward(int32_t token, uint32_t pos) override {
        calls.push_back("forward " + std::to_string(token) + "@" + std::to_string(pos));
        std::fill(logits_.begin(), logits_.end(), 0.0f);
        logits_[script_.at(next_++)] = 10.0f;
        return logits_;
    }
    using Engine::feed;
    void feed(int32_t token, uint32_t pos) override { calls.push_back("feed " + std::to_string(token) + "@" + std::to_string(pos)); }
    double nll(int32_t, uint32_t, int32_t) override { throw std::logic_error("not used"); }
    void reset() override { calls.push_back("reset"); }
    uint64_t kv_cache_bytes() const override { return 0; }
    uint32_t cache_entries() const override { return 0; }
    uint64_t weight_bytes() const override { return 0; }
    uint64_t bytes_read_per_token() const override { return 0; }
    std::string device_name() const override { return "script"; }

    std::vector<std::string> calls;

private:
    std::vector<int32_t> script_;
    size_t next_ = 0;
    std::vector<float> logits_;
};

}  // namespace

TEST_SUITE("reference") {

TEST_CASE("generation: the prompt is fed without logits, only its last token is run; EOS ends a reply and waits") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    const std::vector<int32_t> prompt = tok.encode("Once upon", /*add_bos=*/true);
    REQUIRE(prompt.size() == 3);
    const std::vector<int32_t> story = tok.encode("a time", false);  // " a time": what the engine will predict
    std::vector<int32_t> script = story;
    script.push_back(tok.eos_id());
    ScriptedEngine engine(script, tok.vocab_size());
    Generator g(engine, tok, SamplerSettings{0.0f, 1.0f, 0});

    g.append(prompt);
    // Every prompt token but the last only fills the cache: no logits computed or read back.
    CHECK(engine.calls == std::vector<std::string>{"feed 1@0", "feed " + std::to_string(prompt[1]) + "@1"});
    CHECK(g.length() == 3);

    std::string text;
    const StopReason reason = g.generate(100, [&](std::string_view piece) {
        text += piece;
        return true;
    });
    CHECK(reason == StopReason::end_of_text);
    CHECK(text == " a time");
    CHECK(g.stats().tokens == static_cast<int64_t>(story.size()));
    // The last prompt token and each generated one run once, at consecutive positions.
    REQUIRE(engine.calls.size() == 2 + story.size() + 1);
    CHECK(engine.calls[2] == "forward " + std::to_string(prompt[2]) + "@2");
    for (size_t i = 0; i < story.size(); i++) {
        CHECK(engine.calls[3 + i] == "forward " + std::to_string(story[i]) + "@" + std::to_string(3 + i));
    }
    // The sampled EOS waits: the next turn feeds it before its own tokens (a conversation's cache keeps it).
    CHECK(g.length() == 3 + story.size() + 1);
    g.append({5, 6});
    CHECK(engine.calls[engine.calls.size() - 2] == "feed " + std::to_string(tok.eos_id()) + "@" + std::to_string(3 + story.size()));
    CHECK(engine.calls.back() == "feed 5@" + std::to_string(4 + story.size()));

    g.reset();
    CHECK(engine.calls.back() == "reset");
    CHECK(g.length() == 0);
    CHECK_THROWS_AS(g.generate(1, [](std::string_view) { return true; }), std::logic_error);
}

TEST_CASE("generation: max_tokens and a callback that says stop") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    ScriptedEngine engine({300, 301, 302, 303}, tok.vocab_size());
    Generator g(engine, tok, SamplerSettings{0.0f, 1.0f, 0});
    g.append({1});
    CHECK(g.generate(2, [](std::string_view) { return true; }) == StopReason::length);
    CHECK(g.stats().tokens == 2);
    CHECK(g.generate(5, [](std::string_view) { return false; }) == StopReason::stopped);
    CHECK(g.stats().tokens == 1);
    CHECK(engine.calls == std::vector<std::string>{"forward 1@0", "forward 300@1", "forward 301@2"});
}

}
