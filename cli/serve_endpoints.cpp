#include "serve_endpoints.hpp"

#include "process_memory.hpp"
#include "serve_cache.hpp"
#include "serve_page.hpp"
#include "serve_replies.hpp"

namespace wkv {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

httplib::Server::Handler page_handler() {
    return [](const Request&, Response& res) { res.set_content(kServePage, "text/html; charset=utf-8"); };
}

httplib::Server::Handler health_handler(ServeState& state) {
    // A balancer's check takes a draining replica out.
    return [&state](const Request&, Response& res) {
        if (state.lifecycle.draining()) return reply_json(res, 503, {{"status", "draining"}});
        reply_json(res, 200, {{"status", "ok"}});
    };
}

httplib::Server::Handler models_handler(ServeState& state) {
    return [&state](const Request&, Response& res) {
        reply_json(res, 200,
                   {{"object", "list"},
                    {"data", json::array({{{"id", state.model_name}, {"object", "model"}, {"owned_by", "wkv"}}})}});
    };
}

httplib::Server::Handler stats_handler(ServeState& state) {
    return [&state](const Request&, Response& res) {
        const PoolStats s = state.pool.stats();
        json slots = json::array();
        for (const SlotStats& slot : s.slots)
            slots.push_back({{"busy", slot.busy}, {"tokens", slot.tokens}, {"cache_entries", slot.cache_entries}});
        reply_json(res, 200,
                   {{"model", state.model_name},
                    {"policy", policy_name(state.cache.policy.kind)},
                    {"budget", state.cache.policy.budget},
                    {"kv_cache_bytes", s.kv_cache_bytes},
                    {"kv_bytes_in_use", s.kv_bytes_in_use},
                    {"tokens_generated", s.tokens_generated},
                    {"tokens_per_second", s.tokens_per_second},
                    {"queued", s.queued},
                    {"slots", slots},
                    {"device_bytes_allocated", state.device ? state.device->device_bytes_allocated() : 0},
                    {"resident_bytes", resident_bytes()}});
    };
}

httplib::Server::Handler metrics_handler(ServeState& state) {
    return [&state](const Request&, Response& res) {
        const ServerFigures figures{policy_name(state.cache.policy.kind), resident_bytes(),
                                    state.device ? state.device->device_bytes_allocated() : 0,
                                    state.replies_by_status.snapshot()};
        res.set_content(render_metrics(state.pool.stats(), figures), "text/plain; version=0.0.4; charset=utf-8");
    };
}

httplib::Server::Handler cache_view_handler(ServeState& state) {
    return [&state](const Request& req, Response& res) {
        if (!state.cache_view) {
            return reply_json(
                res, 404,
                error_body("the cache view is off (start the server with --cache-view)", "invalid_request_error"));
        }
        if (!req.has_header("X-Cache-Token")) {
            return reply_json(res, 400,
                              error_body("send the X-Cache-Token header that a completion's reply carried",
                                         "invalid_request_error", "X-Cache-Token"));
        }
        // Another conversation's token, a stale one and a made-up one get the same answer.
        const auto published = state.pool.view(req.get_header_value("X-Cache-Token"));
        if (!published) {
            return reply_json(res, 404,
                              error_body("no cache holds the conversation of that token (a new one took its slot, "
                                         "or it never started)",
                                         "invalid_request_error", "X-Cache-Token"));
        }
        if (!published->view.error.empty()) {
            return reply_json(res, 503,
                              error_body("the cache could not be read: " + published->view.error, "server_error"));
        }
        const bool heads = req.get_param_value("heads") == "1";
        // A poller that has this publication already gets a 304: no rendering, no body.
        const std::string etag = published->etag.substr(0, published->etag.size() - 1) + (heads ? "-h\"" : "\"");
        res.set_header("ETag", etag);
        res.set_header("Cache-Control", "no-cache");
        if (req.get_header_value("If-None-Match") == etag) {
            res.status = 304;
            return;
        }
        res.set_content(published->rendered(heads,
                                            [&] {
                                                return dump(cache_view_json(published->view, state.cache, state.config,
                                                                            state.tokenizer, heads));
                                            }),
                        "application/json");
    };
}

}  // namespace wkv
