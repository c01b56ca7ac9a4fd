// wkv serve: an OpenAI-compatible HTTP server (cpp-httplib, nlohmann-json)
// whose every conversation runs in a fixed-size cache: /v1/chat/completions and
// /v1/completions (streamed as server-sent events or not), /v1/models,
// /health, /stats, and a demo page at /. Requests are parsed strictly; a
// malformed one is a 400 with an OpenAI-style error, a full queue a 503.
#include <httplib.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "error.hpp"
#include "output.hpp"
#include "process_memory.hpp"
#include "runtime/gpu_engine.hpp"
#include "runtime/gpu_weights.hpp"
#include "runtime/memory_plan.hpp"
#include "serve_page.hpp"
#include "serve_request.hpp"
#include "serve_slots.hpp"

namespace wkv {

const CommandSpec kServeCommand{
    "serve",
    "An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health,\n"
    "/stats, and a chat page at /. Up to --parallel conversations decode together, each in its own\n"
    "fixed-size KV cache; more wait in a bounded queue. Binds 127.0.0.1 unless told otherwise.",
    join_flags({
        model_flag(),
        tokenizer_flag(),
        {"--chat-template", "", "NAME", "llama2, chatml, llama3 or zephyr (default: recognised from the GGUF)"},
        {"--host", "", "ADDRESS", "address to listen on (default 127.0.0.1)"},
        {"--port", "", "PORT", "port (default 8080; 0 picks a free one)"},
        {"--parallel", "", "N", "conversations decoding at once, each with its own cache (default 4)"},
        {"--queue", "", "N", "requests that may wait for a free conversation slot; more get 503 (default 16)"},
        {"--n-predict", "-n", "N", "most tokens in a reply when a request names none (default 256)"},
        {"--port-file", "", "PATH", "write the port listened on to this file once listening (for scripts)"},
        device_flag(),
        {"--help", "-h", "", "show this help"},
    }, cache_flags()),
};

namespace {

using json = nlohmann::json;


json error_body(const std::string& message, const std::string& type, const std::string& param = "") {
    return {{"error", {{"message", message}, {"type", type}, {"param", param.empty() ? json() : json(param)}, {"code", nullptr}}}};
}

void reply_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

// OpenAI's usage object; cached_tokens are the ones the slot already held (history reuse).
json usage(const Job& job) {
    return {{"prompt_tokens", job.prompt_tokens + job.reused_tokens},
            {"completion_tokens", job.completion_tokens},
            {"total_tokens", job.prompt_tokens + job.reused_tokens + job.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", job.reused_tokens}}}};
}

const char* finish_reason(Job::Finish f) { return f == Job::Finish::length ? "length" : "stop"; }

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
        httplib::Server* running = nullptr;  // set while listening
        bool finished = false;
    } stop;
    std::thread stopper([&stop, &stop_signals] {
        int signal = 0;
        sigwait(&stop_signals, &signal);
        std::lock_guard<std::mutex> lock(stop.mutex);
        if (stop.finished) return;
        if (stop.running) stop.running->stop();
        else std::_Exit(128 + signal);  // still loading: nothing to finish or flush
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

    Context ctx(context_options(args));
    const std::vector<CacheSettings> sequences(parallel, cache);
    // The memory plan of all the conversations at once, before any upload.
    const uint32_t prompt_chunk = prompt_chunk_that_fits(model.config, sequences, ctx.info(), kPromptChunk);
    check_fits(plan_memory(model, sequences, ctx.info().max_buffer_bytes(), prompt_chunk), ctx.info());
    const std::unique_ptr<GpuWeights> weights = upload_weights(ctx, model);
    SlotPool pool(ctx, *weights, tokenizer, chat, cache, parallel, queue, prompt_chunk);

    httplib::Server server;
    server.set_payload_max_length(kMaxRequestBody);
    // Every request holds a thread while it streams: enough for the slots, the queue and a few more.
    server.new_task_queue = [n = parallel + queue + 4] { return new httplib::ThreadPool(n); };
    std::atomic<uint64_t> next_id{1};

    server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_content(kServePage, "text/html; charset=utf-8"); });
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) { reply_json(res, 200, {{"status", "ok"}}); });
    server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
        reply_json(res, 200, {{"object", "list"}, {"data", json::array({{{"id", model_name}, {"object", "model"}, {"owned_by", "wkv"}}})}});
    });
    server.Get("/stats", [&](const httplib::Request&, httplib::Response& res) {
        const PoolStats s = pool.stats();
        json slots = json::array();
        for (const SlotStats& slot : s.slots) slots.push_back({{"busy", slot.busy}, {"tokens", slot.tokens}, {"cache_entries", slot.cache_entries}});
        reply_json(res, 200,
                   {{"model", model_name}, {"policy", policy_name(cache.policy.kind)}, {"budget", cache.policy.budget},
                    {"kv_cache_bytes", s.kv_cache_bytes}, {"kv_bytes_in_use", s.kv_bytes_in_use}, {"tokens_generated", s.tokens_generated},
                    {"tokens_per_second", s.tokens_per_second}, {"queued", s.queued}, {"slots", slots},
                    {"device_bytes_allocated", ctx.device_bytes_allocated()}, {"resident_bytes", resident_bytes()}});
    });

    auto completion = [&](bool is_chat) {
        return [&, is_chat](const httplib::Request& req, httplib::Response& res) {
            std::shared_ptr<Job> job;
            bool stream = false, include_usage = false;
            try {
                ParsedRequest parsed = parse_request(req.body, is_chat, default_max_tokens);
                job = std::move(parsed.job);
                stream = parsed.stream;
                include_usage = parsed.include_usage;
                if (is_chat && !pool.has_chat_template()) {
                    throw BadRequest{"this model has no chat template; start the server with --chat-template NAME", "messages"};
                }
            } catch (const BadRequest& e) {
                reply_json(res, 400, error_body(e.message, "invalid_request_error", e.param));
                return;
            }
            if (!pool.submit(job)) {
                reply_json(res, 503, error_body("the server is busy: every slot is taken and the queue is full", "server_busy"));
                return;
            }
            const std::string id = (is_chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id++);
            const auto created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
            const char* object = is_chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
            // By value: a streamed reply outlives this handler.
            auto choice = [id, created, object, stream, is_chat, &model_name](const std::string& text, const json& finish, bool first) {
                json c = {{"index", 0}, {"finish_reason", finish}};
                if (!is_chat) c["text"] = text;
                else if (stream) c["delta"] = first ? json{{"role", "assistant"}, {"content", text}} : json{{"content", text}};
                else c["message"] = {{"role", "assistant"}, {"content", text}};
                return json{{"id", id}, {"object", object}, {"created", created}, {"model", model_name}, {"choices", json::array({c})}};
            };
            if (!stream) {
                std::string text;
                Job::Finish finish = Job::Finish::none;
                // (A client that leaves before a whole reply is sent is noticed only
                // when it is written; max_tokens bounds the work until then.)
                while (finish == Job::Finish::none) text += job->next(200, &finish);
                if (finish == Job::Finish::failed) {
                    reply_json(res, 400, error_body(job->error, "invalid_request_error"));
                    return;
                }
                json body = choice(text, finish_reason(finish), true);
                body["usage"] = usage(*job);
                reply_json(res, 200, body);
                return;
            }
            res.set_header("Cache-Control", "no-cache");
            auto first = std::make_shared<bool>(true);
            res.set_chunked_content_provider(
                "text/event-stream",
                [job, choice, first, include_usage](size_t, httplib::DataSink& sink) {
                    Job::Finish finish = Job::Finish::none;
                    const std::string text = job->next(200, &finish);
                    auto send = [&](const std::string& event) { return sink.write(event.data(), event.size()); };
                    if (!text.empty() && !send("data: " + choice(text, nullptr, *first).dump() + "\n\n")) {
                        job->cancel();  // the client is gone
                        return false;
                    }
                    if (!text.empty()) *first = false;
                    if (finish == Job::Finish::none) return sink.is_writable() || (job->cancel(), false);
                    if (finish == Job::Finish::failed) {
                        send("data: " + error_body(job->error, "invalid_request_error").dump() + "\n\n");
                    } else {
                        send("data: " + choice("", finish_reason(finish), *first).dump() + "\n\n");
                        if (include_usage) {
                            json last = choice("", nullptr, false);
                            last["choices"] = json::array();
                            last["usage"] = usage(*job);
                            send("data: " + last.dump() + "\n\n");
                        }
                    }
                    send("data: [DONE]\n\n");
                    sink.done();
                    return true;
                },
                [job](bool) { job->cancel(); });  // whatever happened, the slot is no longer needed
        };
    };
    server.Post("/v1/chat/completions", completion(true));
    server.Post("/v1/completions", completion(false));
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        reply_json(res, 500, error_body("internal error", "server_error"));
    });

    const int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
    if (bound < 0) throw Error("serve: cannot listen on " + host + ":" + std::to_string(port));
    if (args.has("--port-file")) OutputFile(args.text("--port-file")).write(std::to_string(bound) + "\n");
    std::fprintf(stderr, "wkv serve: http://%s:%d/ (%s, %u slots, %s KV cache in all)\n", host.c_str(), bound, describe(cache.policy).c_str(),
                 parallel, format_bytes(pool.stats().kv_cache_bytes).c_str());
    std::signal(SIGPIPE, SIG_IGN);
    {
        std::lock_guard<std::mutex> lock(stop.mutex);
        stop.running = &server;
    }
    server.listen_after_bind();
    std::lock_guard<std::mutex> lock(stop.mutex);
    stop.finished = true;
    return 0;
}

}  // namespace wkv
