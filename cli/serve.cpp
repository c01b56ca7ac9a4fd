// wkv serve: an OpenAI-compatible HTTP server (cpp-httplib, nlohmann-json)
// whose every conversation runs in a fixed-size cache: /v1/chat/completions and
// /v1/completions (streamed as server-sent events or not), /v1/models,
// /health, /stats, /metrics (Prometheus), and a demo page at /. Requests are
// parsed strictly; a malformed one is a 400 with an OpenAI-style error, a full
// queue a 503. Run for others: --api-key, --cors, --drain-seconds, and the
// conversation key a balancer routes by (docs/deploy.md).
#include <httplib.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.hpp"
#include "error.hpp"
#include "http_server.hpp"
#include "output.hpp"
#include "process_memory.hpp"
#include "runtime/memory_plan.hpp"  // format_bytes
#include "serve_cache.hpp"
#include "serve_metrics.hpp"
#include "serve_page.hpp"
#include "serve_request.hpp"
#include "serve_slots.hpp"

namespace wkv {

const CommandSpec kServeCommand{
    "serve",
    "Runs an OpenAI-compatible HTTP server with a chat page.",
    "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health,\n"
    "/stats, /metrics (Prometheus) and a chat page at /. Up to --parallel conversations decode together,\n"
    "each in its own fixed-size KV cache; more wait in a bounded queue. Binds 127.0.0.1 unless told\n"
    "otherwise. A reply echoes the request's X-Conversation-Id (else its 'user') for a balancer that\n"
    "routes conversations to the replica holding their cache (docs/deploy.md).",
    join_flags(
        {
            model_flag(),
            tokenizer_flag(),
            {"--chat-template", "", "NAME",
             "llama2, chatml, llama3, zephyr or mistral (default: recognised from the GGUF)"},
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
            {"--drain-seconds", "", "N",
             "on SIGTERM, refuse new requests and let the replies in flight finish for up to N seconds, then end the "
             "rest (default 0: end them at once)"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags()),
};

namespace {

using json = nlohmann::json;

json error_body(const std::string& message, const std::string& type, const std::string& param = "",
                const std::string& code = "") {
    return {{"error",
             {{"message", message},
              {"type", type},
              {"param", param.empty() ? json() : json(param)},
              {"code", code.empty() ? json() : json(code)}}}};
}

// Text from the model is valid UTF-8 by the time it gets here (Utf8Stream); replacing what
// is not is the last guard, since a throwing serialiser would take the server down.
std::string dump(const json& body) { return body.dump(-1, ' ', false, json::error_handler_t::replace); }

void reply_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(dump(body), "application/json");
}

// The body of an error the HTTP layer answers by itself, which it sends empty.
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

// OpenAI's usage object; cached_tokens are the ones the slot already held (history reuse).
json usage(const Job& job) {
    return {{"prompt_tokens", job.prompt_tokens + job.reused_tokens},
            {"completion_tokens", job.completion_tokens},
            {"total_tokens", job.prompt_tokens + job.reused_tokens + job.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", job.reused_tokens}}}};
}

const char* finish_reason(Job::Finish f) { return f == Job::Finish::length ? "length" : "stop"; }

// How a job that ended without its reply is answered: the status and the OpenAI body.
std::pair<int, json> job_error(Job::Finish finish, const Job& job) {
    if (finish == Job::Finish::shutdown) return {503, error_body(job.error, "server_shutting_down")};
    return {400, error_body(job.error, "invalid_request_error", job.error_param)};
}

// Replies being made: a shutdown lets each send its last event before the connections close.
class RepliesInFlight {
public:
    struct Token {
        RepliesInFlight& owner;
        explicit Token(RepliesInFlight& o) : owner(o) { owner.count_++; }
        ~Token() { owner.count_--; }
    };
    // Waits until none is left, or `limit` has passed.
    void wait_for_none(std::chrono::milliseconds limit) const {
        const auto until = std::chrono::steady_clock::now() + limit;
        while (count_ > 0 && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

private:
    std::atomic<int> count_{0};
};

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

// Which methods each path answers; any other method there is a 405.
const std::map<std::string, std::string>& allowed_methods() {
    static const std::map<std::string, std::string> methods = {
        {"/", "GET"},
        {"/health", "GET"},
        {"/stats", "GET"},
        {"/metrics", "GET"},
        {"/v1/cache", "GET"},
        {"/v1/models", "GET"},
        {"/v1/chat/completions", "POST"},
        {"/v1/completions", "POST"},
    };
    return methods;
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

// Whether `given` is `key`, in a time that depends on the key's length only, not on
// how much of it a guess has right.
bool same_key(const std::string& given, const std::string& key) {
    unsigned difference = given.size() != key.size();
    for (size_t i = 0; i < key.size(); i++)
        difference |= static_cast<unsigned char>(i < given.size() ? given[i] : 0) ^ static_cast<unsigned char>(key[i]);
    return difference == 0;
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

// The conversation key a balancer routes by (the X-Conversation-Id header, else the
// body's 'user'), echoed in the reply's X-Conversation-Id; "" for a key no header could carry.
std::string conversation_key(const std::string& id) {
    if (id.size() > 256) return "";
    for (char c : id) {
        if (c < 0x20 || c > 0x7E) return "";  // nothing a header could not carry back
    }
    return id;
}

}  // namespace

int run_serve(const Args& args) {
    // SIGINT and SIGTERM go to one thread that stops the server (stopping it is
    // not async-signal-safe, so no handler does it); every thread started from
    // here on, the driver's included, inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    struct Stop {
        std::mutex mutex;
        HttpServer* running = nullptr;  // set while listening
        SlotPool* pool = nullptr;
        RepliesInFlight replies;
        bool finished = false;
        std::atomic<bool> draining{false};  // new requests get 503, the replies in flight go on
    } stop;
    const int64_t drain_seconds = args.integer("--drain-seconds", 0, 0, 24 * 3600);
    std::thread stopper([&stop, &stop_signals, drain_seconds] {
        int signal = 0;
        sigwait(&stop_signals, &signal);
        {
            std::lock_guard<std::mutex> lock(stop.mutex);
            if (stop.finished) return;
            if (!stop.running) std::_Exit(128 + signal);  // still loading: nothing to finish or flush
        }
        if (signal == SIGTERM && drain_seconds > 0) {
            stop.draining = true;
            std::fprintf(stderr, "wkv serve: draining: replies in flight have %lld s to finish\n",
                         static_cast<long long>(drain_seconds));
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds);
            const timespec slice{0, 100'000'000};
            while (std::chrono::steady_clock::now() < until) {
                {
                    std::lock_guard<std::mutex> lock(stop.mutex);
                    if (stop.finished || stop.pool->idle()) break;
                }
                if (sigtimedwait(&stop_signals, nullptr, &slice) > 0) break;  // asked again: stop now
            }
        }
        std::lock_guard<std::mutex> lock(stop.mutex);
        if (stop.finished) return;
        // Every reply ends now, with an error its client is sent; then the connections close.
        stop.pool->shutdown();
        stop.running->stop_connections();
        stop.replies.wait_for_none(std::chrono::seconds(3));  // (httplib ends a stream mid-way once stopped)
        stop.running->stop();
    });
    // However run_serve ends, the stopper is woken and joined.
    struct JoinStopper {
        std::thread& thread;
        Stop& stop;
        ~JoinStopper() {
            {
                std::lock_guard<std::mutex> lock(stop.mutex);
                stop.finished = true;
            }
            pthread_kill(thread.native_handle(), SIGTERM);
            thread.join();
        }
    } join_stopper{stopper, stop};
    const Model model = load_model(args.required_text("--model"));
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    std::optional<ChatTemplate> chat;
    if (args.has("--chat-template") || !model.chat_template.empty()) chat.emplace(chat_family(args, model), tokenizer);
    const CacheSettings cache = cache_settings(args, model.config);
    const auto parallel = static_cast<uint32_t>(args.integer("--parallel", 4, 1, 64));
    const auto queue = static_cast<size_t>(args.integer("--queue", 16, 0, 4096));
    const int64_t default_max_tokens = args.integer("--n-predict", 256, 1, 1 << 20);
    const std::string host = args.text("--host", "127.0.0.1");
    const int port = static_cast<int>(args.integer("--port", 8080, 0, 65535));
    const std::string model_name = std::filesystem::path(model.path).filename().string();
    const int64_t max_request_tokens = request_token_cap(args);
    HttpLimits limits;
    limits.max_connections = static_cast<size_t>(args.integer("--max-connections", 256, 1, 4096));
    limits.request_deadline = std::chrono::milliseconds(args.integer("--read-timeout", 10, 1, 3600) * 1000);
    // A Host header names the server a browser thinks it talks to: on loopback only the
    // loopback names (and those allowed), so that a page whose name rebinds to 127.0.0.1
    // cannot drive the server (DNS rebinding).
    std::vector<std::string> allowed_hosts = args.texts("--allowed-host");
    const bool check_host = is_loopback(host) || !allowed_hosts.empty();
    for (const char* name : {"localhost", "127.0.0.1", "[::1]"}) allowed_hosts.push_back(name);
    const std::string key = api_key(args);
    const std::vector<std::string> cors = cors_origins(args);
    auto cors_allows = [&](const std::string& origin) {
        return std::any_of(cors.begin(), cors.end(), [&](const std::string& o) { return o == "*" || o == origin; });
    };
    StatusCounts replies_by_status;

    // A sequence per slot: the memory plan of all the conversations at once, before any upload.
    const OpenEngine opened = make_engine(args, model, std::vector<CacheSettings>(parallel, cache));
    SlotPool pool(*opened.engine, model.config, tokenizer, chat, cache, queue, max_request_tokens);

    HttpServer server(limits);
    server.set_payload_max_length(kMaxRequestBody);
    server.set_default_headers({{"X-Content-Type-Options", "nosniff"}});
    std::atomic<uint64_t> next_id{1};

    server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        // Answered here, before the body is read: the connection closes after the reply.
        auto refuse = [&](int status, const json& body) {
            reply_json(res, status, body);
            HttpServer::close_after_reply(res);
            return httplib::Server::HandlerResponse::Handled;
        };
        const std::string host_header = req.get_header_value("Host");
        if (check_host && !host_allowed(host_header, allowed_hosts)) {
            return refuse(403, error_body("the Host header names no name this server answers to (--allowed-host)",
                                          "invalid_request_error"));
        }
        // A browser names the page that sent a request in Origin. Only the server's own page may
        // drive it: a page elsewhere could otherwise post to it (CSRF; a text/plain POST needs no preflight).
        // --cors names the other pages that may (and the preflight a browser sends first is answered here).
        if (req.has_header("Origin") && !same_origin(req.get_header_value("Origin"), host_header)) {
            const std::string origin = req.get_header_value("Origin");
            if (!cors_allows(origin)) {
                return refuse(403,
                              error_body("cross-origin requests are not accepted (--cors)", "invalid_request_error"));
            }
            res.set_header("Access-Control-Allow-Origin", origin);
            res.set_header("Vary", "Origin");
            res.set_header("Access-Control-Expose-Headers", "X-Conversation-Id");
            if (req.method == "OPTIONS" && req.has_header("Access-Control-Request-Method")) {
                res.status = 204;
                res.set_header("Access-Control-Allow-Methods", "GET, POST");
                res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Conversation-Id");
                res.set_header("Access-Control-Max-Age", "600");
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (stop.draining) {
            if (req.path == "/health") return refuse(503, {{"status", "draining"}});
            return refuse(503, error_body("the server is shutting down", "server_shutting_down"));
        }
        // Every request but the health check and the page itself needs the key; the
        // answer is the same whatever was wrong with what was sent.
        if (!key.empty() && req.path != "/health" && req.path != "/") {
            const std::string auth = req.get_header_value("Authorization");
            const std::string bearer = "Bearer ";
            if (auth.rfind(bearer, 0) != 0 || !same_key(auth.substr(bearer.size()), key)) {
                res.set_header("WWW-Authenticate", "Bearer");
                return refuse(401, error_body("a valid API key is required: send 'Authorization: Bearer KEY'",
                                              "invalid_request_error", "", "invalid_api_key"));
            }
        }
        const std::string conversation = conversation_key(req.get_header_value("X-Conversation-Id"));
        if (!conversation.empty()) res.set_header("X-Conversation-Id", conversation);
        // (httplib would read such a body whole to skip it.)
        if (req.has_header("Content-Length") && req.get_header_value<uint64_t>("Content-Length") > kMaxRequestBody) {
            return refuse(413, http_error_body(413));
        }
        const auto route = allowed_methods().find(req.path);
        const bool head_of_get = req.method == "HEAD" && route != allowed_methods().end() && route->second == "GET";
        if (route != allowed_methods().end() && req.method != route->second && !head_of_get) {
            res.set_header("Allow", route->second);
            return refuse(405, error_body(req.method + " is not allowed on " + req.path + "; use " + route->second,
                                          "invalid_request_error"));
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
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

    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(kServePage, "text/html; charset=utf-8");
    });
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
        reply_json(res, 200, {{"status", "ok"}});
    });
    server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
        reply_json(res, 200,
                   {{"object", "list"},
                    {"data", json::array({{{"id", model_name}, {"object", "model"}, {"owned_by", "wkv"}}})}});
    });
    server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
        const PoolStats s = pool.stats();
        json slots = json::array();
        for (const SlotStats& slot : s.slots)
            slots.push_back({{"busy", slot.busy}, {"tokens", slot.tokens}, {"cache_entries", slot.cache_entries}});
        reply_json(res, 200,
                   {{"model", model_name},
                    {"policy", policy_name(cache.policy.kind)},
                    {"budget", cache.policy.budget},
                    {"kv_cache_bytes", s.kv_cache_bytes},
                    {"kv_bytes_in_use", s.kv_bytes_in_use},
                    {"tokens_generated", s.tokens_generated},
                    {"tokens_per_second", s.tokens_per_second},
                    {"queued", s.queued},
                    {"slots", slots},
                    {"device_bytes_allocated", opened.context ? opened.context->device_bytes_allocated() : 0},
                    {"resident_bytes", resident_bytes()}});
    });

    server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        ServerFigures figures{policy_name(cache.policy.kind), resident_bytes(),
                              opened.context ? opened.context->device_bytes_allocated() : 0,
                              replies_by_status.snapshot()};
        res.set_content(render_metrics(pool.stats(), figures), "text/plain; version=0.0.4; charset=utf-8");
    });
    // Counted as each reply's headers are about to go out (every reply passes here,
    // the refusals of the pre-routing handler too), so a client that reads /metrics
    // after its reply finds it counted.
    server.set_post_routing_handler(
        [&](const httplib::Request&, httplib::Response& res) { replies_by_status.count(res.status); });

    server.Get("/v1/cache", [&](const httplib::Request& req, httplib::Response& res) {
        const std::string asked = req.has_param("slot") ? req.get_param_value("slot") : "0";
        uint32_t slot = 0;
        const bool digits =
            !asked.empty() && asked.size() <= 6 && asked.find_first_not_of("0123456789") == std::string::npos;
        if (!digits || (slot = static_cast<uint32_t>(std::stoul(asked))) >= pool.size()) {
            reply_json(res, 400,
                       error_body("slot must be a slot number from 0 to " + std::to_string(pool.size() - 1),
                                  "invalid_request_error", "slot"));
            return;
        }
        const std::optional<SlotView> view = pool.cache_view(slot, std::chrono::seconds(10));
        if (!view || !view->error.empty()) {
            reply_json(res, 503,
                       error_body(view ? "the cache could not be read: " + view->error
                                       : "the cache could not be read now (the server is busy or shutting down)",
                                  "server_busy"));
            return;
        }
        reply_json(res, 200, cache_view_json(*view, slot, cache, tokenizer, req.get_param_value("heads") == "1"));
    });

    auto completion = [&](bool is_chat) {
        return [&, is_chat](const httplib::Request& req, httplib::Response& res) {
            auto in_flight = std::make_shared<RepliesInFlight::Token>(stop.replies);  // held until the reply is sent
            std::shared_ptr<Job> job;
            bool stream = false, include_usage = false;
            try {
                ParsedRequest parsed = parse_request(req.body, is_chat, default_max_tokens);
                job = std::move(parsed.job);
                stream = parsed.stream;
                include_usage = parsed.include_usage;
                const std::string user = conversation_key(parsed.user);
                if (!res.has_header("X-Conversation-Id") && !user.empty()) res.set_header("X-Conversation-Id", user);
                if (is_chat && !pool.has_chat_template()) {
                    throw BadRequest{"this model has no chat template; start the server with --chat-template NAME",
                                     "messages"};
                }
            } catch (const BadRequest& e) {
                reply_json(res, 400, error_body(e.message, "invalid_request_error", e.param));
                return;
            }
            if (max_request_tokens) job->max_tokens = std::min(job->max_tokens, max_request_tokens);
            if (!pool.submit(job)) {
                reply_json(res, 503,
                           error_body("the server is busy: every slot is taken and the queue is full", "server_busy"));
                return;
            }
            const std::string id = (is_chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
            const auto created =
                std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                    .count();
            const char* object = is_chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
            // By value: a streamed reply outlives this handler.
            auto choice = [id, created, object, stream, is_chat, &model_name](const std::string& text,
                                                                              const json& finish, bool first) {
                json c = {{"index", 0}, {"finish_reason", finish}};
                if (!is_chat)
                    c["text"] = text;
                else if (stream)
                    c["delta"] = first ? json{{"role", "assistant"}, {"content", text}} : json{{"content", text}};
                else
                    c["message"] = {{"role", "assistant"}, {"content", text}};
                return json{{"id", id},
                            {"object", object},
                            {"created", created},
                            {"model", model_name},
                            {"choices", json::array({c})}};
            };
            if (!stream) {
                std::string text;
                Job::Finish finish = Job::Finish::none;
                while (finish == Job::Finish::none) {
                    text += job->next(200, &finish);
                    // A client that gave up frees its slot, or its place in the queue, now.
                    if (finish == Job::Finish::none && HttpServer::client_gone()) job->cancel();
                }
                if (finish != Job::Finish::stop && finish != Job::Finish::length) {
                    const auto [status, error] = job_error(finish, *job);
                    reply_json(res, status, error);
                    return;
                }
                json body = choice(text, finish_reason(finish), true);
                body["usage"] = usage(*job);
                body["slot"] = job->slot;  // wkv's: the slot whose cache holds the conversation (GET /v1/cache)
                reply_json(res, 200, body);
                return;
            }
            res.set_header("Cache-Control", "no-cache");
            auto first = std::make_shared<bool>(true);
            res.set_chunked_content_provider(
                "text/event-stream",
                [job, choice, first, include_usage, in_flight](size_t, httplib::DataSink& sink) {
                    auto send = [&](const json& event) {
                        const std::string line = "data: " + dump(event) + "\n\n";
                        return sink.write(line.data(), line.size());
                    };
                    try {
                        Job::Finish finish = Job::Finish::none;
                        const std::string text = job->next(200, &finish);
                        if (!text.empty()) {
                            if (!send(choice(text, nullptr, *first)))
                                return job->cancel(), false;  // the client is gone
                            *first = false;
                        }
                        if (finish == Job::Finish::none) {
                            if (HttpServer::client_gone() || !sink.is_writable()) return job->cancel(), false;
                            return true;
                        }
                        if (finish == Job::Finish::stop || finish == Job::Finish::length) {
                            json last = choice("", finish_reason(finish), *first);
                            last["slot"] = job->slot;
                            send(last);
                            if (include_usage) {
                                json last = choice("", nullptr, false);
                                last["choices"] = json::array();
                                last["usage"] = usage(*job);
                                send(last);
                            }
                        } else {
                            send(job_error(finish, *job).second);  // the stream ends with the reason, not silently
                        }
                        const std::string done = "data: [DONE]\n\n";
                        sink.write(done.data(), done.size());
                        sink.done();
                        return true;
                    } catch (const std::exception&) {
                        // Nothing may escape into the HTTP library: end this stream, keep the server.
                        job->cancel();
                        return false;
                    }
                },
                [job](bool) { job->cancel(); });  // whatever happened, the slot is no longer needed
        };
    };
    server.Post("/v1/chat/completions", completion(true));
    server.Post("/v1/completions", completion(false));
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        reply_json(res, 500, error_body("internal error", "server_error"));
    });

    const int bound = server.bind(host, port);
    if (bound < 0) throw Error("serve: cannot listen on " + host + ":" + std::to_string(port));
    if (args.has("--port-file")) OutputFile(args.text("--port-file")).write(std::to_string(bound) + "\n");
    std::fprintf(stderr, "wkv serve: http://%s:%d/ (%s, %u slots, %s KV cache in all)\n", host.c_str(), bound,
                 describe(cache.policy).c_str(), parallel, format_bytes(pool.stats().kv_cache_bytes).c_str());
    std::signal(SIGPIPE, SIG_IGN);
    {
        std::lock_guard<std::mutex> lock(stop.mutex);
        stop.running = &server;
        stop.pool = &pool;
    }
    server.listen_after_bind();
    std::lock_guard<std::mutex> lock(stop.mutex);
    stop.finished = true;
    return 0;
}

}  // namespace wkv
