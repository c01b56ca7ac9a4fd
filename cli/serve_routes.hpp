// The endpoints of `wkv serve` as one table, and what stands in front of them.
// A row names a path, its method, whether the API key is needed and whether it
// is answered while the server drains; the router and the 405 (with Allow) both
// read it, so a new endpoint is one row and one handler. Before any route runs,
// every request passes the AccessGate (headers, Host, Origin, key), the drain and
// the body-size check; every reply is counted by status on its way out.
#pragma once

#include <httplib.h>

#include <string>
#include <vector>

#include "http_server.hpp"
#include "serve_metrics.hpp"
#include "serve_security.hpp"

namespace wkv {

struct Route {
    std::string method;  // GET (which answers HEAD too) or POST
    std::string path;
    bool needs_key;       // with --api-key, the request must carry it
    bool while_draining;  // answered while the server drains (else 503)
    httplib::Server::Handler handler;
};

// Registers `routes` on `server` with the checks before them. `draining` says whether the
// server drains now; `replies` counts every reply by status as its headers go out.
void install_routes(HttpServer& server, const std::vector<Route>& routes, const AccessGate& gate,
                    std::function<bool()> draining, StatusCounts& replies);

// The conversation key a balancer routes by (the X-Conversation-Id header, else the body's
// 'user'), echoed in the reply's X-Conversation-Id; "" for a key no header could carry.
std::string conversation_key(const std::string& id);

}  // namespace wkv
