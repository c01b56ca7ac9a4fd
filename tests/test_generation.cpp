// The generation loop shared by generate, chat and serve (model/generation),
// driven through a scripted engine that records every call.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "generation.hpp"
#include "support.hpp"
#include "utf8_stream.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// An engine of `sequences` sequences whose every step puts the next token of
// a script first (as the greedy token and in the logits), and which records
// how it was called.
class ScriptedEngine final : public Engine {
public:
    ScriptedEngine(std::vector<int32_t> script, int32_t vocab, uint32_t sequences = 1)
        : sequences_(sequences), script_(std::move(script)), vocab_(vocab), next_(sequences) {}

    uint32_t size() const override { return sequences_; }
    void step(std::span<const SequenceStep> steps) override {
        REQUIRE(steps.size() == sequences_);
        for (uint32_t b = 0; b < sequences_; b++) {
            if (!steps[b].active) continue;
            static const char* const kOutput[] = {"feed", "logits", "nll", "token"};
            calls.push_back(prefix(b) + kOutput[static_cast<int>(steps[b].output)] + " " +
                            std::to_string(steps[b].token) + "@" + std::to_string(steps[b].pos));
            if (steps[b].output != StepOutput::none) next_[b] = script_.at(cursor_++);
        }
    }
    void prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool) override {
        std::string list;
        for (int32_t t : tokens) list += (list.empty() ? "" : ",") + std::to_string(t);
        calls.push_back(prefix(seq) + "prefill " + list + "@" + std::to_string(first_pos));
    }
    uint32_t prefill_chunk() const override { return 2; }
    void reset(uint32_t seq) override { calls.push_back(prefix(seq) + "reset"); }
    std::vector<float> logits(uint32_t seq) const override {
        std::vector<float> l(static_cast<size_t>(vocab_), 0.0f);
        l[static_cast<size_t>(next_[seq])] = 10.0f;
        return l;
    }
    double nll(uint32_t) const override { throw std::logic_error("not used"); }
    int32_t token(uint32_t seq) const override { return next_[seq]; }
    uint32_t entries(uint32_t) const override { return 0; }
    uint64_t kv_bytes_held(uint32_t) const override { return 0; }
    CacheView cache_view(uint32_t) const override { return {}; }
    uint64_t kv_cache_bytes() const override { return 0; }
    uint64_t weight_bytes() const override { return 0; }
    uint64_t bytes_read_per_token() const override { return 0; }
    std::string device_name() const override { return "script"; }

    std::vector<std::string> calls;

private:
    std::string prefix(uint32_t seq) const { return sequences_ > 1 ? std::to_string(seq) + ": " : ""; }

    uint32_t sequences_;
    std::vector<int32_t> script_;
    int32_t vocab_;
    size_t cursor_ = 0;
    std::vector<int32_t> next_;  // each sequence's scripted token after its last step
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
    CHECK(engine.calls == std::vector<std::string>{"prefill 1," + std::to_string(prompt[1]) + "@0"});
    CHECK(g.length() == 3);

    std::string text;
    const StopReason reason = g.generate(100, [&](std::string_view piece) {
        text += piece;
        return true;
    });
    CHECK(reason == StopReason::end_of_text);
    CHECK(text == " a time");
    CHECK(g.stats().tokens == static_cast<int64_t>(story.size()));
    // The last prompt token and each generated one run once, at consecutive positions;
    // greedy decoding asks the engine for the token, not the logits.
    REQUIRE(engine.calls.size() == 1 + story.size() + 1);
    CHECK(engine.calls[1] == "token " + std::to_string(prompt[2]) + "@2");
    for (size_t i = 0; i < story.size(); i++) {
        CHECK(engine.calls[2 + i] == "token " + std::to_string(story[i]) + "@" + std::to_string(3 + i));
    }
    // The sampled EOS waits: the next turn feeds it before its own tokens (a conversation's cache keeps it).
    CHECK(g.length() == 3 + story.size() + 1);
    CHECK(g.fed() == 3 + story.size());
    g.append({5, 6});
    CHECK(engine.calls.back() == "prefill " + std::to_string(tok.eos_id()) + ",5@" + std::to_string(3 + story.size()));

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
    CHECK(engine.calls == std::vector<std::string>{"token 1@0", "token 300@1", "token 301@2"});
}

TEST_CASE(
    "generation: a sampling reply asks for the logits; Generators of two sequences share one engine, step by step") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    ScriptedEngine engine({300, 301, 302, 303, 304, 305}, tok.vocab_size(), 2);
    // Temperature 1e-3: sampling, but the scripted token (10 above the rest) always wins.
    Generator a(engine, tok, SamplerSettings{0.0f, 1.0f, 0}, {}, 0),
        b(engine, tok, SamplerSettings{1e-3f, 1.0f, 7}, {}, 1);
    a.queue({1, 40, 41, 42});
    b.queue({1, 50});
    CHECK(a.feeding());
    CHECK(a.feed(engine.prefill_chunk()) == 1);  // a chunk at a time: one token still to go in
    CHECK(b.feed(engine.prefill_chunk()) == 0);
    CHECK(!b.feeding());
    CHECK_THROWS_AS(a.next_step(), std::logic_error);  // its prompt is not all in
    CHECK(a.feed(engine.prefill_chunk()) == 0);
    a.begin_reply();
    b.begin_reply();
    for (int turn = 0; turn < 2; turn++) {
        const SequenceStep steps[] = {a.next_step(), b.next_step()};
        engine.step(steps);
        CHECK(a.advance() == std::string(tok.decode_piece(turn ? 300 : 42, turn ? 302 : 300)));
        CHECK(b.advance() == std::string(tok.decode_piece(turn ? 301 : 50, turn ? 303 : 301)));
    }
    CHECK(engine.calls == std::vector<std::string>{"0: prefill 1,40@0", "1: prefill 1@0", "0: prefill 41@2",
                                                   "0: token 42@3", "1: logits 50@1", "0: token 300@4",
                                                   "1: logits 301@2"});
    CHECK((a.length() == 6 && a.fed() == 5 && b.length() == 4 && b.fed() == 3));
    CHECK(a.stats().tokens == 2);
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

TEST_CASE(
    "generation: text comes out in whole characters when byte tokens split one; a reply that ends inside one ends with "
    "U+FFFD") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    auto byte_token = [&](const char* piece) {
        const auto& pieces = tok.vocabulary().pieces;
        const auto it = std::find(pieces.begin(), pieces.end(), std::string(piece));
        REQUIRE(it != pieces.end());
        return static_cast<int32_t>(it - pieces.begin());
    };
    // é (C3 A9) in two byte tokens, then € cut after two of its three bytes.
    ScriptedEngine engine({byte_token("<0xC3>"), byte_token("<0xA9>"), byte_token("<0xE2>"), byte_token("<0x82>")},
                          tok.vocab_size());
    Generator g(engine, tok, SamplerSettings{0.0f, 1.0f, 0});
    g.append({1});
    std::vector<std::string> pieces;
    CHECK(g.generate(4, [&](std::string_view piece) {
        pieces.emplace_back(piece);
        return true;
    }) == StopReason::length);
    CHECK(pieces == std::vector<std::string>{"", "\xC3\xA9", "", "", "\xEF\xBF\xBD"});
}

}  // TEST_SUITE("reference")
