#include "serve_replies.hpp"

#include "serve_request.hpp"  // kMaxRequestBody

namespace wkv {

using json = nlohmann::json;

json error_body(const std::string& message, const std::string& type, const std::string& param,
                const std::string& code) {
    return {{"error",
             {{"message", message},
              {"type", type},
              {"param", param.empty() ? json() : json(param)},
              {"code", code.empty() ? json() : json(code)}}}};
}

std::string dump(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), "application/json");
}

json http_error_body(int status) {
    switch (status) {
        case 400: return error_body("the request is not valid HTTP", "invalid_request_error");
        case 403: return error_body("forbidden", "invalid_request_error");
        case 404: return error_body("no such endpoint", "invalid_request_error");
        case 405: return error_body("this method is not allowed here", "invalid_request_error");
        case 408: return error_body("the request took too long to arrive (--read-timeout)", "invalid_request_error");
        case 413:
            return error_body("the request body is larger than " + std::to_string(kMaxRequestBody) + " bytes",
                              "invalid_request_error");
        case 414: return error_body("the request line is too long", "invalid_request_error");
        default: return error_body("the request failed", status >= 500 ? "server_error" : "invalid_request_error");
    }
}

}  // namespace wkv
