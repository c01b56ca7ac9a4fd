#include "serve_security.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "constant_time.hpp"
#include "error.hpp"
#include "http_server.hpp"
#include "serve_replies.hpp"

namespace wkv {

namespace {

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// The API key the server asks for: --api-key, else $WKV_API_KEY; "" for none.
std::string api_key(const Args& args) {
    const char* env = std::getenv("WKV_API_KEY");
    const bool flag = args.has("--api-key");
    if (!flag && !env) return "";
    const std::string key = flag ? args.text("--api-key") : env;
    const std::string source = flag ? "--api-key" : "WKV_API_KEY";
    if (key.empty()) throw Error(source + " is empty; give a key, or unset it to serve without one");
    if (key.size() > 1024) throw Error(source + " is longer than 1024 characters");
    for (char c : key) {
        if (c < 0x21 || c > 0x7E) throw Error(source + " may hold only visible ASCII characters (no spaces)");
    }
    return key;
}

// --cors: origins as a browser sends them (scheme://host[:port]), or *.
std::vector<std::string> cors_origins(const Args& args) {
    std::vector<std::string> origins = args.texts("--cors");
    for (const std::string& o : origins) {
        const bool scheme = o.rfind("http://", 0) == 0 || o.rfind("https://", 0) == 0;
        const size_t host = o.find("://") + 3;
        if (o != "*" && (!scheme || host >= o.size() || o.find_first_of("/ \t?#", host) != std::string::npos)) {
            throw Error("--cors " + wkv::quoted(o) + " is not an origin such as https://app.example.com (or *)");
        }
    }
    return origins;
}

// A header httplib would pass on cut short or doubled: a control character in a name or a
// value (a NUL cuts what a handler reads: "Bearer KEY\0junk" would read as "Bearer KEY"),
// or a second Host, which two parsers in a chain could each read differently.
std::string malformed_headers(const httplib::Request& req) {
    for (const auto& [name, value] : req.headers) {
        for (const std::string* text : {&name, &value}) {
            for (char c : *text) {
                const auto byte = static_cast<unsigned char>(c);
                if ((byte < 0x20 && byte != '\t') || byte == 0x7F) {
                    return "the header " + wkv::quoted(name) + " holds a control character";
                }
            }
        }
    }
    if (req.headers.count("Host") > 1) return "the request has more than one Host header";
    return "";
}

}  // namespace

AccessSettings access_settings(const Args& args, const std::string& bind_host) {
    AccessSettings s;
    s.api_key = api_key(args);
    s.cors_origins = cors_origins(args);
    // A Host header names the server a browser thinks it talks to: on loopback only the
    // loopback names (and those allowed), so that a page whose name rebinds to 127.0.0.1
    // cannot drive the server (DNS rebinding).
    s.allowed_hosts = args.texts("--allowed-host");
    s.check_host = is_loopback(bind_host) || !s.allowed_hosts.empty();
    for (const char* name : {"localhost", "127.0.0.1", "[::1]"}) s.allowed_hosts.push_back(name);
    return s;
}

Admission refuse(httplib::Response& res, int status, const std::string& message, const std::string& type,
                 const std::string& code) {
    reply_json(res, status, error_body(message, type, "", code));
    HttpServer::close_after_reply(res);
    return Admission::answered;
}

Admission AccessGate::admit(const httplib::Request& req, httplib::Response& res, bool needs_key) const {
    if (const std::string why = malformed_headers(req); !why.empty()) {
        return refuse(res, 400, why, "invalid_request_error");
    }
    const std::string host_header = req.get_header_value("Host");
    if (settings_.check_host && !host_allowed(host_header, settings_.allowed_hosts)) {
        return refuse(res, 403, "the Host header names no name this server answers to (--allowed-host)",
                      "invalid_request_error");
    }
    // A browser names the page that sent a request in Origin. Only the server's own page may
    // drive it: a page elsewhere could otherwise post to it (CSRF; a text/plain POST needs no
    // preflight). --cors names the other pages that may, and their preflight is answered here.
    if (req.has_header("Origin") && !same_origin(req.get_header_value("Origin"), host_header)) {
        const std::string origin = req.get_header_value("Origin");
        const bool allowed = std::any_of(settings_.cors_origins.begin(), settings_.cors_origins.end(),
                                         [&](const std::string& o) { return o == "*" || o == origin; });
        if (!allowed)
            return refuse(res, 403, "cross-origin requests are not accepted (--cors)", "invalid_request_error");
        res.set_header("Access-Control-Allow-Origin", origin);
        res.set_header("Vary", "Origin");
        res.set_header("Access-Control-Expose-Headers", "X-Conversation-Id, X-Cache-Token");
        if (req.method == "OPTIONS" && req.has_header("Access-Control-Request-Method")) {
            res.status = 204;
            res.set_header("Access-Control-Allow-Methods", "GET, POST");
            res.set_header("Access-Control-Allow-Headers",
                           "Authorization, Content-Type, X-Conversation-Id, X-Cache-Token");
            res.set_header("Access-Control-Max-Age", "600");
            return Admission::answered;
        }
    }
    // The answer is the same whatever was wrong with what was sent.
    if (needs_key && !settings_.api_key.empty()) {
        const std::string auth = req.get_header_value("Authorization");
        const std::string bearer = "Bearer ";
        if (auth.rfind(bearer, 0) != 0 || !constant_time_equal(auth.substr(bearer.size()), settings_.api_key)) {
            res.set_header("WWW-Authenticate", "Bearer");
            return refuse(res, 401, "a valid API key is required: send 'Authorization: Bearer KEY'",
                          "invalid_request_error", "invalid_api_key");
        }
    }
    return Admission::pass;
}

bool host_allowed(const std::string& host_header, const std::vector<std::string>& names) {
    std::string name = lower(host_header);
    const size_t colon = name.rfind(':');
    if (colon != std::string::npos && name.find(']', colon) == std::string::npos)
        name.resize(colon);  // a port, not IPv6's colons
    if (name.empty()) return false;
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return lower(n) == name; });
}

bool same_origin(const std::string& origin, const std::string& host_header) {
    for (const char* scheme : {"http://", "https://"}) {
        const std::string prefix = scheme;
        if (origin.rfind(prefix, 0) == 0)
            return !host_header.empty() && lower(origin.substr(prefix.size())) == lower(host_header);
    }
    return false;  // "null" (a sandboxed page, a file) or another scheme
}

std::string random_token() {
    unsigned char bytes[16];
    size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw Error("serve: the kernel's random source failed", ExitCode::device);
        }
        got += static_cast<size_t>(n);
    }
    static const char hex[] = "0123456789abcdef";
    std::string token;
    for (unsigned char b : bytes) token += {hex[b >> 4], hex[b & 15]};
    return token;
}

}  // namespace wkv
