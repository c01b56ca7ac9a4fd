// The bodies `wkv serve` answers with, shaped as OpenAI's: an error object for
// every refusal, whoever makes it (a handler, the checks before the routes, the
// HTTP layer itself).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

namespace wkv {

// {"error": {"message", "type", "param", "code"}}; an empty param or code is null.
nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& param = "",
                          const std::string& code = "");

// Serialised with invalid UTF-8 replaced: text from the model is whole UTF-8 by the time it gets
// here (Utf8Stream), so this is the last guard, since a throwing serialiser would take the server down.
std::string dump(const nlohmann::json& body);

// `body` as the reply, with `status`.
void reply_json(httplib::Response& res, int status, const nlohmann::json& body);

// The body of an error the HTTP layer answers by itself, which it would send empty.
nlohmann::json http_error_body(int status);

}  // namespace wkv
