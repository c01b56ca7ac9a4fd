#include "serve_routes.hpp"

#include <algorithm>

#include "serve_replies.hpp"
#include "serve_request.hpp"  // kMaxRequestBody

namespace wkv {

namespace {

const Route* find_route(const std::vector<Route>& routes, const std::string& path) {
    const auto it = std::find_if(routes.begin(), routes.end(), [&](const Route& r) { return r.path == path; });
    return it == routes.end() ? nullptr : &*it;
}

// A reply that closes its connection says so once: httplib adds its own "Connection: close"
// after a handler's, and a "Keep-Alive" beside it.
void one_connection_header(httplib::Response& res) {
    const auto closes = [&] {
        const auto [first, last] = res.headers.equal_range("Connection");
        return std::any_of(first, last, [](const auto& h) { return h.second == "close"; });
    }();
    if (!closes) return;
    res.headers.erase("Connection");
    res.headers.erase("Keep-Alive");
    res.set_header("Connection", "close");
}

}  // namespace

std::string conversation_key(const std::string& id) {
    if (id.size() > 256) return "";
    for (char c : id) {
        if (c < 0x20 || c > 0x7E) return "";  // nothing a header could not carry back
    }
    return id;
}

void install_routes(HttpServer& server, const std::vector<Route>& routes, const AccessGate& gate,
                    std::function<bool()> draining, StatusCounts& replies) {
    // Answered here, before the body is read (the refusals close the connection).
    server.set_pre_routing_handler([&routes, &gate, draining](const httplib::Request& req, httplib::Response& res) {
        const Route* route = find_route(routes, req.path);
        // An unknown path needs the key too: what exists is nobody's business without it.
        if (gate.admit(req, res, !route || route->needs_key) == Admission::answered)
            return httplib::Server::HandlerResponse::Handled;
        if (draining() && !(route && route->while_draining)) {
            refuse(res, 503, "the server is shutting down", "server_shutting_down");
            return httplib::Server::HandlerResponse::Handled;
        }
        const std::string conversation = conversation_key(req.get_header_value("X-Conversation-Id"));
        if (!conversation.empty()) res.set_header("X-Conversation-Id", conversation);
        // (httplib would read such a body whole to skip it.)
        if (req.has_header("Content-Length") && req.get_header_value<uint64_t>("Content-Length") > kMaxRequestBody) {
            reply_json(res, 413, http_error_body(413));
            HttpServer::close_after_reply(res);
            return httplib::Server::HandlerResponse::Handled;
        }
        const bool head_of_get = req.method == "HEAD" && route && route->method == "GET";
        if (route && req.method != route->method && !head_of_get) {
            res.set_header("Allow", route->method);
            refuse(res, 405, req.method + " is not allowed on " + req.path + "; use " + route->method,
                   "invalid_request_error");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    for (const Route& route : routes) {
        if (route.method == "GET") server.Get(route.path, route.handler);
        if (route.method == "POST") server.Post(route.path, route.handler);
    }
    // Errors the HTTP layer answers by itself (a malformed request, a body too large, a request
    // too slow) get an OpenAI error object too; the connection closes, since part of the
    // request may be unread.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        switch (HttpServer::request_fault()) {
            case HttpServer::Fault::timed_out: res.status = 408; break;
            case HttpServer::Fault::too_large: res.status = 413; break;
            case HttpServer::Fault::none: break;
        }
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error
        HttpServer::close_after_reply(res);
        reply_json(res, res.status, http_error_body(res.status));
        return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        reply_json(res, 500, error_body("internal error", "server_error"));
    });
    // Counted as each reply's headers are about to go out (every reply passes here, the
    // refusals before the routes too), so a client that reads /metrics after its reply finds it.
    server.set_post_routing_handler([&replies](const httplib::Request&, httplib::Response& res) {
        one_connection_header(res);
        replies.count(res.status);
    });
}

}  // namespace wkv
