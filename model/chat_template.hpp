// How a conversation becomes tokens: the few template families people's GGUF
// files use (tokenizer.chat_template), written out by hand; no Jinja engine.
// A template is recognised by the markers its Jinja text uses, or named with
// --chat-template for files that carry none (llama2.c checkpoints).
//
// The markers (<|im_start|>, <|eot_id|>, ...) become their own token where the
// vocabulary has them, else they are encoded as text; BOS and EOS are the
// vocabulary's. Text after a marker is encoded without sentencepiece's dummy
// prefix, as it continues the same text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer.hpp"

namespace wkv {

enum class ChatFamily {
    llama2,   // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] reply</s>
    chatml,   // <|im_start|>role\n...<|im_end|>\n
    llama3,   // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
    zephyr,   // <|role|>\n...</s>\n
    mistral,  // <s>[INST] user [/INST] reply</s>[INST] ...: one BOS, no <<SYS>> (a system message opens the first turn)
    phi3,     // <|role|>...<|end|>: Phi-3, Phi-3.5, Phi-4-mini (the whitespace after a marker is its own)
    gemma,    // <start_of_turn>user\n...<end_of_turn>\n, the assistant as "model"; a system message opens the
              // first user turn; every message trimmed (as Gemma's template and llama.cpp do)
};

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

const char* chat_family_name(ChatFamily f);
std::string chat_family_names();  // "llama2, chatml, llama3, zephyr, mistral, phi3, gemma"
std::optional<ChatFamily> parse_chat_family(std::string_view name);
// The family a Jinja chat template belongs to, by its markers; nullopt if none matches.
std::optional<ChatFamily> recognise_chat_template(std::string_view jinja);
// The family of the model file's own template; fails naming `override_name`
// (how the caller names another: a flag, a parameter) when it has none wkv knows.
struct Model;
ChatFamily model_chat_family(const Model& model, const std::string& override_name);

class ChatTemplate {
public:
    ChatTemplate(ChatFamily family, const Tokenizer& tokenizer);

    ChatFamily family() const { return family_; }

    // Messages, then the header the assistant's reply follows. With `opens` they
    // open a conversation (BOS, a system message first); without, they continue
    // one whose last reply render() or close_reply() has closed.
    std::vector<int32_t> render(const std::vector<ChatMessage>& messages, bool opens = true) const;
    // One user turn appended to a conversation: the system message too when it
    // is the first turn, and the header the reply follows.
    std::vector<int32_t> user_turn(const std::string& user, const std::string& system, bool first) const;
    // The token that ends an assistant turn (EOS for llama2, zephyr and mistral).
    int32_t end_of_turn() const { return end_of_turn_; }
    // Tokens that end a reply as generated: the end of turn and EOS.
    std::vector<int32_t> stop_tokens() const;
    // What follows a reply before the next turn, as render() would have it: the
    // end of turn, unless the reply ended with it (sampled, it is fed anyway),
    // and the separator after it.
    std::vector<int32_t> close_reply(bool ended_with_end_of_turn) const;

private:
    // Appends a marker (its own token where the vocabulary has one) or text.
    void marker(std::vector<int32_t>& out, std::string_view text) const;
    void text(std::vector<int32_t>& out, std::string_view text, bool dummy_prefix = false) const;
    void message(std::vector<int32_t>& out, const ChatMessage& m, bool first) const;
    void assistant_header(std::vector<int32_t>& out) const;

    ChatFamily family_;
    const Tokenizer& tokenizer_;
    int32_t end_of_turn_;
};

}  // namespace wkv
