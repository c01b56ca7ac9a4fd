#include "serve_request.hpp"

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
    const bool ok = std::is_same_v<T, bool> ? v.is_boolean() : std::is_integral_v<T> ? v.is_number_integer() : v.is_number();
    if (!ok) throw BadRequest{std::string("'") + key + "' has the wrong type", key};
    const T value = v.get<T>();
    if (value < lo || value > hi) throw BadRequest{std::string("'") + key + "' is out of range", key};
    return value;
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
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") || !m["content"].is_string()) {
                throw BadRequest{"each message needs a string 'role' and a string 'content'", "messages"};
            }
            const std::string role = m["role"].get<std::string>();
            if (role != "system" && role != "user" && role != "assistant") {
                throw BadRequest{"a message's role must be system, user or assistant", "messages"};
            }
            job->messages.push_back({role, m["content"].get<std::string>()});
        }
    } else {
        if (!body.contains("prompt") || !body["prompt"].is_string()) throw BadRequest{"'prompt' must be a string", "prompt"};
        job->prompt = body["prompt"].get<std::string>();
    }
    job->max_tokens = field<int64_t>(body, "max_tokens", default_max_tokens, 1, 1 << 20);
    job->sampling.temperature = static_cast<float>(field<double>(body, "temperature", 1.0, 0.0, 100.0));
    job->sampling.top_p = static_cast<float>(field<double>(body, "top_p", 1.0, 1e-6, 1.0));
    job->sampling.seed = static_cast<uint64_t>(field<int64_t>(body, "seed", 0, 0, INT64_MAX));
    parsed.stream = field<bool>(body, "stream", false, false, true);
    if (body.contains("stream_options") && !body["stream_options"].is_null()) {
        if (!body["stream_options"].is_object()) throw BadRequest{"'stream_options' must be an object", "stream_options"};
        parsed.include_usage = field<bool>(body["stream_options"], "include_usage", false, false, true);
    }
    if (field<int64_t>(body, "n", 1, 1, 1) != 1) throw BadRequest{"only n = 1 is supported", "n"};
    if (body.contains("stop") && !body["stop"].is_null() && !(body["stop"].is_array() && body["stop"].empty())) {
        throw BadRequest{"stop sequences are not supported", "stop"};
    }
    return parsed;
}

}  // namespace wkv
