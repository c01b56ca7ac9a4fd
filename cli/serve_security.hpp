// Who may talk to `wkv serve`, checked in one place before any route runs: the
// request's headers are well formed (no control characters, one Host), its Host
// is a name this server answers to (DNS rebinding), its Origin is the server's own
// page or one --cors names (CSRF; the CORS preflight is answered here), and it
// carries the API key where the route needs one. Every refusal is an OpenAI
// error object, and its connection closes.
#pragma once

#include <httplib.h>

#include <string>
#include <vector>

#include "args.hpp"

namespace wkv {

struct AccessSettings {
    std::string api_key;                     // --api-key, else $WKV_API_KEY; "" for none
    std::vector<std::string> cors_origins;   // --cors: scheme://host[:port], or "*"
    std::vector<std::string> allowed_hosts;  // Host names answered: the loopback names and --allowed-host
    bool check_host = false;                 // on loopback, or where --allowed-host names any
};

// From the flags; throws wkv::Error for a bad key or origin. `bind_host`: the address listened on.
AccessSettings access_settings(const Args& args, const std::string& bind_host);

enum class Admission {
    pass,      // go on to the route
    answered,  // `res` holds the reply: a refusal, or the answer to a CORS preflight
};

class AccessGate {
public:
    explicit AccessGate(AccessSettings settings) : settings_(std::move(settings)) {}
    // Headers, Host and Origin, then the key if `needs_key`. Sets the CORS headers of a reply
    // to an origin --cors allows.
    Admission admit(const httplib::Request& req, httplib::Response& res, bool needs_key) const;

private:
    AccessSettings settings_;
};

// Whether a Host header ("name" or "name:port", "[v6]:port") names one of `names`
// (compared without case; the port is not checked: the socket already chose it).
bool host_allowed(const std::string& host_header, const std::vector<std::string>& names);
// Whether an Origin header ("http://name:port") is the server a Host header names.
bool same_origin(const std::string& origin, const std::string& host_header);
// 128 bits from the kernel's random source, as 32 hex digits: a credential nobody can guess.
std::string random_token();

// The refusal every check before the routes makes: `status` with an OpenAI error, and the
// connection closed after it (the request's body may be unread).
Admission refuse(httplib::Response& res, int status, const std::string& message, const std::string& type,
                 const std::string& code = "");

}  // namespace wkv
