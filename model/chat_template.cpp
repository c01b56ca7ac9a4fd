#include "chat_template.hpp"

#include <utility>

#include "error.hpp"
#include "model.hpp"

namespace wkv {

namespace {

struct Family {
    ChatFamily family;
    const char* name;
    const char* marker;  // what its Jinja template contains
};
constexpr Family kFamilies[] = {
    {ChatFamily::llama2, "llama2", "[INST]"},
    {ChatFamily::chatml, "chatml", "<|im_start|>"},
    {ChatFamily::llama3, "llama3", "<|start_header_id|>"},
    {ChatFamily::zephyr, "zephyr", "<|user|>"},
    {ChatFamily::mistral, "mistral", "[INST]"},  // told from llama2 by its lack of <<SYS>>
    {ChatFamily::phi3, "phi3", "<|end|>"},       // told from zephyr (<|user|> too) by its end of turn
    {ChatFamily::gemma, "gemma", "<start_of_turn>"},
};

// Text without the whitespace around it (Jinja's trim).
std::string trimmed(std::string_view s) {
    const size_t first = s.find_first_not_of(" \t\n\r");
    if (first == std::string_view::npos) return {};
    return std::string(s.substr(first, s.find_last_not_of(" \t\n\r") - first + 1));
}

}  // namespace

const char* chat_family_name(ChatFamily f) {
    for (const Family& x : kFamilies) {
        if (x.family == f) return x.name;
    }
    return "?";
}

std::string chat_family_names() {
    std::string s;
    for (const Family& x : kFamilies) s += (s.empty() ? "" : ", ") + std::string(x.name);
    return s;
}

std::optional<ChatFamily> parse_chat_family(std::string_view name) {
    for (const Family& x : kFamilies) {
        if (name == x.name) return x.family;
    }
    return std::nullopt;
}

std::optional<ChatFamily> recognise_chat_template(std::string_view jinja) {
    // The most specific markers first: a Llama-3 template has no "[INST]", but
    // some ChatML ones mention "<|user|>" in comments.
    for (ChatFamily f : {ChatFamily::llama3, ChatFamily::chatml, ChatFamily::gemma, ChatFamily::phi3,
                         ChatFamily::llama2, ChatFamily::zephyr}) {
        for (const Family& x : kFamilies) {
            if (x.family != f || jinja.find(x.marker) == std::string_view::npos) continue;
            // [INST] without Llama 2's <<SYS>> block is Mistral's template.
            if (f == ChatFamily::llama2 && jinja.find("<<SYS>>") == std::string_view::npos) return ChatFamily::mistral;
            return f;
        }
    }
    return std::nullopt;
}

ChatFamily model_chat_family(const Model& model, const std::string& override_name) {
    if (model.chat_template.empty()) {
        fail(model.path, "has no chat template (tokenizer.chat_template); name one with " + override_name + " (" +
                             chat_family_names() + ")");
    }
    const auto family = recognise_chat_template(model.chat_template);
    if (!family) {
        fail(model.path, "its chat template is none of the families wkv knows (" + chat_family_names() +
                             "); name one with " + override_name);
    }
    return *family;
}

ChatTemplate::ChatTemplate(ChatFamily family, const Tokenizer& tokenizer)
    : family_(family), tokenizer_(tokenizer), end_of_turn_(tokenizer.eos_id()) {
    const char* end = family == ChatFamily::chatml   ? "<|im_end|>"
                      : family == ChatFamily::llama3 ? "<|eot_id|>"
                      : family == ChatFamily::phi3   ? "<|end|>"
                      : family == ChatFamily::gemma  ? "<end_of_turn>"
                                                     : nullptr;
    if (end) {
        const auto id = tokenizer.find_piece(end);
        if (!id) {
            fail(tokenizer.source(), std::string("the ") + chat_family_name(family) + " chat template needs a token " +
                                         end + ", which this vocabulary does not have (name another template)");
        }
        end_of_turn_ = *id;
    }
}

std::vector<int32_t> ChatTemplate::stop_tokens() const {
    std::vector<int32_t> stops = {end_of_turn_};
    if (end_of_turn_ != tokenizer_.eos_id()) stops.push_back(tokenizer_.eos_id());
    return stops;
}

void ChatTemplate::marker(std::vector<int32_t>& out, std::string_view marker_text) const {
    if (const auto id = tokenizer_.find_piece(marker_text)) {
        out.push_back(*id);
    } else {
        text(out, marker_text);
    }
}

void ChatTemplate::text(std::vector<int32_t>& out, std::string_view t, bool dummy_prefix) const {
    const std::vector<int32_t> ids = tokenizer_.encode(t, /*add_bos=*/false, dummy_prefix);
    out.insert(out.end(), ids.begin(), ids.end());
}

// One message. `first`: it opens the conversation (BOS where the vocabulary adds one).
void ChatTemplate::message(std::vector<int32_t>& out, const ChatMessage& m, bool first) const {
    const bool bos = first && tokenizer_.vocabulary().add_bos;
    switch (family_) {
        case ChatFamily::llama2:
        case ChatFamily::mistral:
            // The system message lives inside the first user turn; render() and
            // user_turn() put it there, so here it is only a user or assistant turn.
            if (m.role == "assistant") {
                text(out, " " + m.content);
                out.push_back(tokenizer_.eos_id());
            } else {
                if (family_ == ChatFamily::llama2 || first) out.push_back(tokenizer_.bos_id());  // Mistral: one BOS
                text(out, "[INST] " + m.content + " [/INST]", /*dummy_prefix=*/true);
            }
            return;
        case ChatFamily::chatml:
            if (bos) out.push_back(tokenizer_.bos_id());
            marker(out, "<|im_start|>");
            text(out, m.role + "\n" + m.content);
            marker(out, "<|im_end|>");
            text(out, "\n");
            return;
        case ChatFamily::llama3:
            if (first) {
                if (const auto begin = tokenizer_.find_piece("<|begin_of_text|>"))
                    out.push_back(*begin);
                else if (bos)
                    out.push_back(tokenizer_.bos_id());
            }
            marker(out, "<|start_header_id|>");
            text(out, m.role);
            marker(out, "<|end_header_id|>");
            text(out, "\n\n" + m.content);
            marker(out, "<|eot_id|>");
            return;
        case ChatFamily::zephyr:
            if (bos) out.push_back(tokenizer_.bos_id());
            text(out, "<|" + m.role + "|>\n" + m.content, /*dummy_prefix=*/first);
            out.push_back(tokenizer_.eos_id());
            text(out, "\n");
            return;
        case ChatFamily::phi3:
            // Phi-3's markers take the newline after them (HF's rstrip, which llama.cpp applies to a
            // Phi-3 vocabulary), and the text after one starts as sentencepiece starts a text.
            if (bos) out.push_back(tokenizer_.bos_id());
            marker(out, "<|" + m.role + "|>");
            text(out, m.content, /*dummy_prefix=*/true);
            marker(out, "<|end|>");
            return;
        case ChatFamily::gemma:
            // Only user and model turns: render() and user_turn() fold a system message into the first user turn.
            if (bos) out.push_back(tokenizer_.bos_id());
            marker(out, "<start_of_turn>");
            text(out, (m.role == "assistant" ? "model\n" : m.role + "\n") + trimmed(m.content));
            marker(out, "<end_of_turn>");
            text(out, "\n");
            return;
    }
}

void ChatTemplate::assistant_header(std::vector<int32_t>& out) const {
    switch (family_) {
        case ChatFamily::llama2:
        case ChatFamily::mistral: return;  // the reply follows [/INST]
        case ChatFamily::chatml:
            marker(out, "<|im_start|>");
            text(out, "assistant\n");
            return;
        case ChatFamily::llama3:
            marker(out, "<|start_header_id|>");
            text(out, "assistant");
            marker(out, "<|end_header_id|>");
            text(out, "\n\n");
            return;
        case ChatFamily::zephyr: text(out, "<|assistant|>\n"); return;
        case ChatFamily::phi3: marker(out, "<|assistant|>"); return;
        case ChatFamily::gemma:
            marker(out, "<start_of_turn>");
            text(out, "model\n");
            return;
    }
}

std::vector<int32_t> ChatTemplate::close_reply(bool ended_with_end_of_turn) const {
    std::vector<int32_t> out;
    if (!ended_with_end_of_turn) out.push_back(end_of_turn_);
    if (family_ == ChatFamily::chatml || family_ == ChatFamily::zephyr || family_ == ChatFamily::gemma) text(out, "\n");
    return out;
}

std::vector<int32_t> ChatTemplate::render(const std::vector<ChatMessage>& messages, bool opens) const {
    for (const ChatMessage& m : messages) {
        if (m.role != "system" && m.role != "user" && m.role != "assistant") {
            throw Error("chat: message role " + quoted(m.role) + " is not system, user or assistant");
        }
    }
    std::vector<int32_t> out;
    if (family_ == ChatFamily::gemma) {
        // The system message opens the first user turn (it is dropped if none follows, as llama.cpp drops it).
        std::string system;
        bool first = opens;
        for (size_t i = 0; i < messages.size(); i++) {
            const ChatMessage& m = messages[i];
            if (m.role == "system" && i == 0 && opens) {
                system = trimmed(m.content) + "\n\n";
            } else if (m.role == "system") {
                throw Error("chat: the gemma template takes a system message only first");
            } else {
                message(out, {m.role, (m.role == "user" ? std::exchange(system, "") : "") + trimmed(m.content)}, first);
                first = false;
            }
        }
        assistant_header(out);
        return out;
    }
    if (family_ == ChatFamily::llama2 || family_ == ChatFamily::mistral) {
        // Llama 2 and Mistral fold the system message into the first user turn, and the reply follows [/INST].
        size_t i = 0;
        std::string system;
        if (opens && !messages.empty() && messages[0].role == "system") system = messages[i++].content;
        bool first = opens;
        for (; i < messages.size(); i++, first = false) {
            const ChatMessage& m = messages[i];
            if (m.role == "system") {
                throw Error(std::string("chat: the ") + chat_family_name(family_) +
                            " template takes a system message only first");
            }
            if (m.role == "user") {
                const std::vector<int32_t> turn = user_turn(m.content, system, first);
                out.insert(out.end(), turn.begin(), turn.end());
            } else {
                message(out, m, false);
            }
        }
        return out;
    }
    for (size_t i = 0; i < messages.size(); i++) message(out, messages[i], opens && i == 0);
    assistant_header(out);
    return out;
}

std::vector<int32_t> ChatTemplate::user_turn(const std::string& user, const std::string& system, bool first) const {
    std::vector<int32_t> out;
    if (family_ == ChatFamily::llama2) {
        out.push_back(tokenizer_.bos_id());
        const std::string sys = first && !system.empty() ? "<<SYS>>\n" + system + "\n<</SYS>>\n\n" : "";
        text(out, "[INST] " + sys + user + " [/INST]", /*dummy_prefix=*/true);
        return out;
    }
    if (family_ == ChatFamily::mistral) {  // one BOS for the conversation; a system message opens the first turn
        if (first) out.push_back(tokenizer_.bos_id());
        const std::string sys = first && !system.empty() ? system + "\n\n" : "";
        text(out, "[INST] " + sys + user + " [/INST]", /*dummy_prefix=*/true);
        return out;
    }
    if (family_ == ChatFamily::gemma) {
        const std::string sys = first && !system.empty() ? trimmed(system) + "\n\n" : "";
        message(out, {"user", sys + trimmed(user)}, first);
        assistant_header(out);
        return out;
    }
    if (first && !system.empty()) message(out, {"system", system}, true);
    message(out, {"user", user}, first && system.empty());
    assistant_header(out);
    return out;
}

}  // namespace wkv
