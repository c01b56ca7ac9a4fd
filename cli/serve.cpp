// wkv serve: an OpenAI-compatible HTTP server (cpp-httplib, nlohmann-json)
// whose every conversation runs in a fixed-size cache. This file puts it
// together: the flags, the model and its engine, the slots, and the table of
// routes. What each part does is in its own file: the routes and the checks
// before them (serve_routes), who may call (serve_security), the handlers
// (serve_endpoints, serve_completions), the slots (serve_slots), and how it
// starts, drains and stops (serve_lifecycle). docs/deploy.md: running it for others.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "commands.hpp"
#include "error.hpp"
#include "http_server.hpp"
#include "output.hpp"
#include "runtime/memory_plan.hpp"  // format_bytes
#include "serve_endpoints.hpp"
#include "serve_lifecycle.hpp"
#include "serve_request.hpp"
#include "serve_routes.hpp"
#include "serve_security.hpp"
#include "serve_slots.hpp"

namespace wkv {

const CommandSpec kServeCommand{
    "serve",
    "Runs an OpenAI-compatible HTTP server with a chat page.",
    "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health,\n"
    "/stats, /metrics (Prometheus), /v1/cache (--cache-view) and a chat page at /. Up to --parallel\n"
    "conversations decode together,\n"
    "each in its own fixed-size KV cache; more wait in a bounded queue. Binds 127.0.0.1 unless told\n"
    "otherwise. A reply echoes the request's X-Conversation-Id (else its 'user') for a balancer that\n"
    "routes conversations to the replica holding their cache (docs/deploy.md).",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            tokenizer_flag(),
            {"--chat-template", "", "NAME",
             "llama2, chatml, llama3, zephyr, mistral or phi3 (default: recognised from the GGUF)"},
            {"--host", "", "ADDRESS", "address to listen on (default 127.0.0.1)"},
            {"--port", "", "PORT", "port (default 8080; 0 picks a free one)"},
            {"--parallel", "", "N", "conversations decoding at once, each with its own cache (default 4)"},
            {"--queue", "", "N", "requests that may wait for a free conversation slot; more get 503 (default 16)"},
            {"--n-predict", "-n", "N", "most tokens in a reply when a request names none (default 256)"},
            {"--port-file", "", "PATH", "write the port listened on to this file once listening (for scripts)"},
            request_cap_flag(),
            {"--max-connections", "", "N",
             "client connections open at once; past it a new one gets 503 at once (default 256)"},
            {"--read-timeout", "", "SECONDS",
             "the most time a client may take to send one request, headers and body (default 10)"},
            {"--allowed-host", "", "NAME",
             "a Host name to answer besides localhost, 127.0.0.1 and [::1] (repeatable; see README)", true},
            {"--api-key", "", "KEY",
             "require 'Authorization: Bearer KEY' on every request but /health and the page (default: "
             "$WKV_API_KEY, which keeps it out of the process list; none)"},
            {"--cors", "", "ORIGIN",
             "let pages from ORIGIN (https://app.example.com; * for any) call the server from a browser (repeatable; "
             "default: only the server's own page)",
             true},
            {"--cache-view", "", "",
             "answer GET /v1/cache: what a reply's KV cache holds, its text included, to the client that holds the "
             "X-Cache-Token the reply carried (default: off)"},
            {"--drain-seconds", "", "N",
             "on SIGTERM, refuse new requests and let the replies in flight finish for up to N seconds, then end the "
             "rest (default 0: end them at once)"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags()),
};

int run_serve(const Args& args) {
    ServeLifecycle lifecycle(args.integer("--drain-seconds", 0, 0, 24 * 3600));  // first: a signal may come any time
    const std::string host = args.text("--host", "127.0.0.1");
    const int port = static_cast<int>(args.integer("--port", 8080, 0, 65535));
    const AccessGate gate(access_settings(args, host));
    const auto parallel = static_cast<uint32_t>(args.integer("--parallel", 4, 1, 64));
    const auto queue = static_cast<size_t>(args.integer("--queue", 16, 0, 4096));
    const int64_t default_max_tokens = args.integer("--n-predict", 256, 1, 1 << 20);
    const int64_t max_request_tokens = request_token_cap(args);
    HttpLimits limits;
    limits.max_connections = static_cast<size_t>(args.integer("--max-connections", 256, 1, 4096));
    limits.request_deadline = std::chrono::milliseconds(args.integer("--read-timeout", 10, 1, 3600) * 1000);
    std::optional<OutputFile> port_file;
    if (args.has("--port-file")) port_file.emplace(args.required_text("--port-file"), "--port-file");

    const Model model = load_model(model_path(args));
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    std::optional<ChatTemplate> chat;
    if (args.has("--chat-template") || !model.chat_template.empty()) chat.emplace(chat_family(args, model), tokenizer);
    const CacheSettings cache = cache_settings(args, model.config);
    // A sequence per slot: the memory plan of all the conversations at once, before any upload.
    const OpenEngine opened = make_engine(args, model, std::vector<CacheSettings>(parallel, cache));
    const bool cache_view = args.has("--cache-view");
    SlotPool pool(*opened.engine, model.config, tokenizer, chat, cache, queue, max_request_tokens, cache_view);
    StatusCounts replies_by_status;
    ServeState state{std::filesystem::path(model.path).filename().string(),
                     cache,
                     model.config,
                     tokenizer,
                     pool,
                     opened.context.get(),
                     replies_by_status,
                     lifecycle,
                     default_max_tokens,
                     max_request_tokens,
                     cache_view};

    const std::vector<Route> routes = {
        // method, path, needs the key, answered while draining, handler
        {"GET", "/", false, false, page_handler()},
        {"GET", "/health", false, true, health_handler(state)},   // 503 while draining, for a balancer
        {"GET", "/metrics", true, true, metrics_handler(state)},  // the last scrape counts the drain
        {"GET", "/stats", true, false, stats_handler(state)},
        {"GET", "/v1/models", true, false, models_handler(state)},
        {"GET", "/v1/cache", true, false, cache_view_handler(state)},
        {"POST", "/v1/chat/completions", true, false, completion_handler(state, true)},
        {"POST", "/v1/completions", true, false, completion_handler(state, false)},
    };
    HttpServer server(limits);
    server.set_payload_max_length(kMaxRequestBody);
    server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
    install_routes(
        server, routes, gate, [&lifecycle] { return lifecycle.draining(); }, replies_by_status);

    const int bound = server.bind(host, port);
    if (bound < 0) throw Error("serve: cannot listen on " + host + ":" + std::to_string(port));
    if (port_file) port_file->write(std::to_string(bound) + "\n");
    std::fprintf(stderr, "wkv serve: http://%s:%d/ (%s, %u slots, %s KV cache in all)\n", host.c_str(), bound,
                 describe(cache.policy).c_str(), parallel, format_bytes(pool.stats().kv_cache_bytes).c_str());
    std::signal(SIGPIPE, SIG_IGN);
    lifecycle.serving(server, pool);
    server.listen_after_bind();
    lifecycle.finished();
    return 0;
}

}  // namespace wkv
