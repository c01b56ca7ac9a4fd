// POST /v1/chat/completions and /v1/completions: a request parsed strictly,
// queued for a slot, and answered whole or streamed as server-sent events.
#include <chrono>
#include <memory>

#include "error.hpp"
#include "http_server.hpp"
#include "serve_endpoints.hpp"
#include "serve_replies.hpp"
#include "serve_request.hpp"
#include "serve_routes.hpp"
#include "serve_security.hpp"

namespace wkv {

namespace {

using json = nlohmann::json;

// OpenAI's usage object; cached_tokens are the ones the slot already held (history reuse).
json usage(const Job& job) {
    return {{"prompt_tokens", job.prompt_tokens + job.reused_tokens},
            {"completion_tokens", job.completion_tokens},
            {"total_tokens", job.prompt_tokens + job.reused_tokens + job.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", job.reused_tokens}}}};
}

const char* finish_reason(Job::Finish f) { return f == Job::Finish::length ? "length" : "stop"; }

bool completed(Job::Finish f) { return f == Job::Finish::stop || f == Job::Finish::length; }

// How a job that ended without its reply is answered: the status and the OpenAI body. A
// request refused before it ran is the client's (400); anything after, the server's (500).
std::pair<int, json> job_error(Job::Finish finish, const Job& job) {
    if (finish == Job::Finish::shutdown) return {503, error_body(job.error, "server_shutting_down")};
    if (job.blame == Job::Blame::server) return {500, error_body(job.error, "server_error")};
    return {400, error_body(job.error, "invalid_request_error", job.error_param)};
}

}  // namespace

httplib::Server::Handler completion_handler(ServeState& state, bool is_chat) {
    return [&state, is_chat](const httplib::Request& req, httplib::Response& res) {
        auto in_flight =
            std::make_shared<RepliesInFlight::Token>(state.lifecycle.replies());  // until the reply is sent
        std::shared_ptr<Job> job;
        bool stream = false, include_usage = false;
        try {
            ParsedRequest parsed = parse_request(req.body, is_chat, state.default_max_tokens);
            job = std::move(parsed.job);
            stream = parsed.stream;
            include_usage = parsed.include_usage;
            const std::string user = conversation_key(parsed.user);
            if (!res.has_header("X-Conversation-Id") && !user.empty()) res.set_header("X-Conversation-Id", user);
            if (is_chat && !state.pool.has_chat_template()) {
                throw BadRequest{"this model has no chat template; start the server with --chat-template NAME",
                                 "messages"};
            }
        } catch (const BadRequest& e) {
            reply_json(res, 400, error_body(e.message, "invalid_request_error", e.param));
            return;
        }
        if (state.max_request_tokens) job->max_tokens = std::min(job->max_tokens, state.max_request_tokens);
        if (state.cache_view) {
            // The credential for this reply's cache view (GET /v1/cache): its client's alone.
            job->view_token = random_token();
            res.set_header("X-Cache-Token", job->view_token);
        }
        if (!state.pool.submit(job)) {
            reply_json(res, 503,
                       error_body("the server is busy: every slot is taken and the queue is full", "server_busy"));
            return;
        }
        const std::string id = (is_chat ? "chatcmpl-" : "cmpl-") + std::to_string(state.next_id++);
        const auto created =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        const char* object = is_chat ? (stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
        // By value: a streamed reply outlives this handler.
        auto choice = [id, created, object, stream, is_chat, model = state.model_name](const std::string& text,
                                                                                       const json& finish, bool first) {
            json c = {{"index", 0}, {"finish_reason", finish}};
            if (!is_chat)
                c["text"] = text;
            else if (stream)
                c["delta"] = first ? json{{"role", "assistant"}, {"content", text}} : json{{"content", text}};
            else
                c["message"] = {{"role", "assistant"}, {"content", text}};
            return json{
                {"id", id}, {"object", object}, {"created", created}, {"model", model}, {"choices", json::array({c})}};
        };
        // wkv's own fields on the last answer: the slot whose cache holds the conversation, and
        // the seed the reply was sampled with (the request's, else one drawn for it).
        auto with_ours = [job](json body) {
            body["slot"] = job->slot;
            body["seed"] = job->sampling.seed;
            return body;
        };
        if (!stream) {
            std::string text;
            Job::Finish finish = Job::Finish::none;
            while (finish == Job::Finish::none) {
                text += job->next(200, &finish);
                // A client that gave up frees its slot, or its place in the queue, now.
                if (finish == Job::Finish::none && HttpServer::client_gone()) job->cancel();
            }
            if (!completed(finish)) {
                const auto [status, error] = job_error(finish, *job);
                reply_json(res, status, error);
                return;
            }
            json body = with_ours(choice(text, finish_reason(finish), true));
            body["usage"] = usage(*job);
            reply_json(res, 200, body);
            return;
        }
        res.set_header("Cache-Control", "no-cache");
        auto first = std::make_shared<bool>(true);
        res.set_chunked_content_provider(
            "text/event-stream",
            [job, choice, with_ours, first, include_usage, in_flight](size_t, httplib::DataSink& sink) {
                auto send = [&](const json& event) {
                    const std::string line = "data: " + dump(event) + "\n\n";
                    return sink.write(line.data(), line.size());
                };
                try {
                    Job::Finish finish = Job::Finish::none;
                    const std::string text = job->next(200, &finish);
                    if (!text.empty()) {
                        if (!send(choice(text, nullptr, *first))) return job->cancel(), false;  // the client is gone
                        *first = false;
                    }
                    if (finish == Job::Finish::none) {
                        if (HttpServer::client_gone() || !sink.is_writable()) return job->cancel(), false;
                        return true;
                    }
                    if (completed(finish)) {
                        send(with_ours(choice("", finish_reason(finish), *first)));
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
}

}  // namespace wkv
