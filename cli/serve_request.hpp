// The body of an OpenAI-style request to `wkv serve`, parsed strictly: the
// parts wkv uses, each checked for type and range; what it does not support
// (n > 1, stop sequences, roles other than system/user/assistant) is refused.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "serve_slots.hpp"

namespace wkv {

constexpr size_t kMaxRequestBody = 1 << 20;  // bytes

// A request the client got wrong: answered 400 with an OpenAI-style error.
struct BadRequest {
    std::string message;
    std::string param;  // the offending field, "" for the body as a whole
};

struct ParsedRequest {
    std::shared_ptr<Job> job;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    std::string user;            // OpenAI's end-user id, if given (a conversation key for a balancer)
};

// `chat`: /v1/chat/completions (messages), else /v1/completions (prompt).
// Throws BadRequest.
ParsedRequest parse_request(const std::string& body, bool chat, int64_t default_max_tokens);

}  // namespace wkv
