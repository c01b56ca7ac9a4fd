#include "serve_request.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <type_traits>

namespace wkv {

using json = nlohmann::json;

namespace {

// Optional field `key` of `body` as T, within [lo, hi]; absent gives `fallback`.
template <typename T>
T field(const json& body, const char* key, T fallback, T lo, T hi) {
    if (!body.contains(key) || body[key].is_null()) return fallback;
    const json& v = body[key];
    const bool ok = std::is_same_v<T, bool> ? v.is_boolean()
                    : std::is_integral_v<T> ? v.is_number_integer()
                                            : v.is_number();
    if (!ok) throw BadRequest{std::string("'") + key + "' has the wrong type", key};
    const T value = v.get<T>();
    if (value < lo || value > hi) throw BadRequest{std::string("'") + key + "' is out of range", key};
    return value;
}

// A message's content: a string, or OpenAI's array of parts, of which wkv takes
// the text parts (joined as written) and refuses the rest (images, audio).
std::string message_text(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array())
        throw BadRequest{"a message's 'content' must be a string or an array of text parts", "messages"};
    std::string text;
    for (const json& part : content) {
        if (!part.is_object() || !part.contains("type") || part["type"] != "text" || !part.contains("text") ||
            !part["text"].is_string()) {
            throw BadRequest{
                "a message's content parts must be {\"type\": \"text\", \"text\": STRING}; wkv reads text only",
                "messages"};
        }
        text += part["text"].get<std::string>();
    }
    return text;
}

// OpenAI fields wkv does not implement: a request that sets one is refused, since ignoring
// it would answer a different question. The value each may have that asks for nothing.
bool asks_for_nothing(const std::string& key, const json& v) {
    if (v.is_null()) return true;
    if (key == "logprobs" || key == "echo") return v == false || v == 0;
    if (key == "suffix") return v == "";
    if (key == "best_of") return v == 1;
    if (key == "tools" || key == "functions") return v.is_array() && v.empty();
    if (key == "tool_choice" || key == "function_call") return v == "none";
    if (key == "response_format") return v.is_object() && v.size() == 1 && v.value("type", json()) == "text";
    if (key == "logit_bias") return v.is_object() && v.empty();
    if (key == "presence_penalty" || key == "frequency_penalty") return v.is_number() && v == 0;
    if (key == "modalities") return v == json::array({"text"});
    return false;  // top_logprobs, audio, prediction: any value asks for something
}

void refuse_unsupported(const json& body) {
    for (const char* key : {"logprobs", "top_logprobs", "response_format", "tools", "tool_choice", "echo", "suffix",
                            "best_of", "logit_bias", "presence_penalty", "frequency_penalty", "functions",
                            "function_call", "modalities", "audio", "prediction"}) {
        if (body.contains(key) && !asks_for_nothing(key, body[key])) {
            throw BadRequest{std::string("'") + key + "' is not supported by wkv serve", key};
        }
    }
}

// The most tokens the reply may have: max_completion_tokens (today's OpenAI name) or
// max_tokens (the older one); both must agree. Unset: 0.
int64_t reply_cap(const json& body) {
    const int64_t completion = field<int64_t>(body, "max_completion_tokens", 0, 1, 1 << 20);
    const int64_t tokens = field<int64_t>(body, "max_tokens", 0, 1, 1 << 20);
    if (completion && tokens && completion != tokens) {
        throw BadRequest{"'max_completion_tokens' and 'max_tokens' differ; send one", "max_completion_tokens"};
    }
    return completion ? completion : tokens;
}

}  // namespace

ParsedRequest parse_request(const std::string& text, bool chat, int64_t default_max_tokens) {
    json body;
    try {
        body = json::parse(text);
    } catch (const json::exception&) {
        throw BadRequest{"the body is not valid JSON", ""};
    }
    if (!body.is_object()) throw BadRequest{"the body is not a JSON object", ""};
    ParsedRequest parsed;
    parsed.job = std::make_shared<Job>();
    Job* job = parsed.job.get();
    if (chat) {
        if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
            throw BadRequest{"'messages' must be a non-empty array", "messages"};
        }
        for (const json& m : body["messages"]) {
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content")) {
                throw BadRequest{"each message needs a string 'role' and a 'content'", "messages"};
            }
            const std::string role = m["role"].get<std::string>();
            if (role != "system" && role != "user" && role != "assistant") {
                throw BadRequest{"a message's role must be system, user or assistant", "messages"};
            }
            job->messages.push_back({role, message_text(m["content"])});
        }
        if (std::none_of(job->messages.begin(), job->messages.end(),
                         [](const ChatMessage& m) { return m.role == "user"; })) {
            throw BadRequest{"the conversation needs at least one user message", "messages"};
        }
    } else {
        if (!body.contains("prompt") || !body["prompt"].is_string())
            throw BadRequest{"'prompt' must be a string", "prompt"};
        job->prompt = body["prompt"].get<std::string>();
    }
    const int64_t cap = reply_cap(body);
    job->max_tokens = cap ? cap : default_max_tokens;
    job->max_tokens_given = cap != 0;
    job->sampling.temperature = static_cast<float>(field<double>(body, "temperature", 1.0, 0.0, 100.0));
    job->sampling.top_p = static_cast<float>(field<double>(body, "top_p", 1.0, 1e-6, 1.0));
    // A request without a seed gets one of its own (the reply says which), as `wkv generate` does.
    const bool seeded = body.contains("seed") && !body["seed"].is_null();
    job->sampling.seed = seeded ? static_cast<uint64_t>(field<int64_t>(body, "seed", 0, 0, INT64_MAX)) : random_seed();
    parsed.stream = field<bool>(body, "stream", false, false, true);
    if (body.contains("stream_options") && !body["stream_options"].is_null()) {
        if (!body["stream_options"].is_object())
            throw BadRequest{"'stream_options' must be an object", "stream_options"};
        parsed.include_usage = field<bool>(body["stream_options"], "include_usage", false, false, true);
    }
    if (body.contains("user") && !body["user"].is_null()) {
        if (!body["user"].is_string()) throw BadRequest{"'user' must be a string", "user"};
        parsed.user = body["user"].get<std::string>();
    }
    refuse_unsupported(body);
    if (field<int64_t>(body, "n", 1, 1, 1) != 1) throw BadRequest{"only n = 1 is supported", "n"};
    if (body.contains("stop") && !body["stop"].is_null() && !(body["stop"].is_array() && body["stop"].empty())) {
        throw BadRequest{"stop sequences are not supported", "stop"};
    }
    return parsed;
}

}  // namespace wkv
