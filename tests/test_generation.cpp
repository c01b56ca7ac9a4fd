// The generation loop shared by generate, chat and serve (model/generation),
// driven through a scripted engine that records every call.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "generation.hpp"
#include "utf8_stream.hpp"
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

TEST_CASE("utf-8: a character split across tokens waits until whole; bytes no character starts with become U+FFFD") {
    const std::string e_acute = "\xC3\xA9", euro = "\xE2\x82\xAC", clef = "\xF0\x9D\x84\x9E", fffd = "\xEF\xBF\xBD";
    Utf8Stream s;
    CHECK(s.push("caf") == "caf");
    CHECK(s.push("\xC3") == "");  // the first byte of é
    CHECK(s.holding());
    CHECK(s.push("\xA9 ") == e_acute + " ");
    CHECK(s.push("\xE2") == "");
    CHECK(s.push("\x82") == "");
    CHECK(s.push("\xAC\xF0\x9D") == euro);
    CHECK(s.push("\x84\x9E!") == clef + "!");
    CHECK(!s.holding());
    // Bytes that start nothing, overlong leads, surrogates, past U+10FFFF: one U+FFFD each.
    CHECK(s.push("\xB1") == fffd);
    CHECK(s.push("\xC0\xAF") == fffd + fffd);
    CHECK(s.push("\xED\xA0\x80") == fffd + fffd + fffd);
    CHECK(s.push("\xF5") == fffd);
    // A start cut short by a byte that cannot continue it: U+FFFD, then that byte as itself.
    CHECK(s.push("\xE2\x82") == "");
    CHECK(s.push("a") == fffd + "a");
    // The end of a reply inside a character.
    CHECK(s.push("\xF0\x9D") == "");
    CHECK(s.finish() == fffd);
    CHECK(!s.holding());
    CHECK(s.finish() == "");
    CHECK(valid_utf8("ok " + euro + "\xFF") == "ok " + euro + fffd);
    CHECK(valid_utf8("\xE2\x82") == fffd);
}

TEST_CASE("generation: text comes out in whole characters when byte tokens split one; a reply that ends inside one ends with U+FFFD") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    auto byte_token = [&](const char* piece) {
        const auto& pieces = tok.vocabulary().pieces;
        const auto it = std::find(pieces.begin(), pieces.end(), std::string(piece));
        REQUIRE(it != pieces.end());
        return static_cast<int32_t>(it - pieces.begin());
    };
    // é (C3 A9) in two byte tokens, then € cut after two of its three bytes.
    ScriptedEngine engine({byte_token("<0xC3>"), byte_token("<0xA9>"), byte_token("<0xE2>"), byte_token("<0x82>")}, tok.vocab_size());
    Generator g(engine, tok, SamplerSettings{0.0f, 1.0f, 0});
    g.append({1});
    std::vector<std::string> pieces;
    CHECK(g.generate(4, [&](std::string_view piece) {
        pieces.emplace_back(piece);
        return true;
    }) == StopReason::length);
    CHECK(pieces == std::vector<std::string>{"", "\xC3\xA9", "", "", "\xEF\xBF\xBD"});
}

}
