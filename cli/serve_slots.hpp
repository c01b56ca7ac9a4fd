// The conversations `wkv serve` decodes together: N slots, the sequences of one engine,
// each with its own fixed-size cache and policy state, driven by one worker
// thread. Requests wait in a bounded queue for a free slot. A slot keeps the
// conversation its cache holds, so a client that sends the whole history again
// (as OpenAI clients do) continues in the slot that has it: only the messages
// after what the slot holds are processed. Each slot is a Generator, as in
// `wkv generate`; a turn of the worker feeds a prompt chunk per slot, then one
// engine step advances every slot that is replying. Greedy replies do not
// depend on what else runs: a batch equals each sequence alone, bit for bit.
// So a slot that fails (a step the engine refuses, logits that are not finite)
// fails alone: its sequence is stepped apart from the others, its job ends, and
// the other replies go on as if it had never run.
//
// What a slot's cache holds is published for GET /v1/cache (with --cache-view):
// the worker copies it after each reply, and every kPublishInterval during one,
// under a lock held only to swap a pointer; readers take the latest copy and
// never wait for the worker. A copy is labelled with the credential its reply
// handed out; a new conversation in the slot voids it and starts empty.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "chat_template.hpp"
#include "engine.hpp"
#include "generation.hpp"
#include "policy.hpp"
#include "sampler.hpp"
#include "serve_metrics.hpp"
#include "tokenizer.hpp"

namespace wkv {

// One request's reply, handed from the worker to the HTTP thread as it comes.
class Job {
public:
    // What the request asks for.
    std::vector<ChatMessage> messages;  // a chat; empty for a plain completion
    std::string prompt;                 // a plain completion's text
    int64_t max_tokens = 256;
    SamplerSettings sampling;

    bool max_tokens_given = false;  // else max_tokens is the server's default, cut to what the cache can hold
    std::string view_token;         // the credential for this reply's cache view ("" without --cache-view)

    enum class Finish { none, stop, length, cancelled, failed, shutdown };
    // Whose fault a failure is: the request's (refused before it ran: a 400) or the server's.
    enum class Blame { request, server };

    // Worker side.
    void push(const std::string& piece);
    void finish(Finish reason, std::string error = "", Blame blame = Blame::request);
    // HTTP side: waits up to `timeout_ms` for more text; returns the text since the
    // last call, and sets *finish once the reply is complete.
    std::string next(int timeout_ms, Finish* finish);
    void cancel();  // the client is gone: the slot is freed at the worker's next turn
    bool cancelled() const;

    uint32_t prompt_tokens = 0;  // processed for this request (after any reuse)
    uint32_t reused_tokens = 0;  // already in the slot's cache
    int32_t slot = -1;           // the slot that runs it (set when it starts)
    int64_t completion_tokens = 0;
    std::string error;        // for Finish::failed and shutdown
    std::string error_param;  // the request field the error is about ("" for none)
    Blame blame = Blame::request;
    // When it was submitted, and when its first token came (the worker's; for the metrics).
    std::chrono::steady_clock::time_point submitted, first_token;

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string unread_;
    Finish finish_ = Finish::none;
    bool cancelled_ = false;
};

// What a slot's cache holds (GET /v1/cache), copied by the worker between its steps.
struct SlotView {
    uint32_t slot = 0;
    CacheView view;
    uint32_t tokens = 0;          // in the conversation the cache holds: positions [0, tokens)
    uint32_t first_logged = 0;    // the position of logged[0]
    std::vector<int32_t> logged;  // the conversation's newest tokens (at most SlotPool::kLoggedTokens)
    std::string error;            // the device failed to read it back
};

// A slot's view as last published, with the credential of the reply it belongs to. Its
// readers share one rendering of it (the first reader makes it): many readers of one
// view cost one serialisation per publication, not one each.
struct PublishedView {
    std::string token;
    SlotView view;
    std::string etag;  // new for each publication, random: it says only whether the view changed
    // The view rendered by `render` (with every head's entries, or without), made once.
    const std::string& rendered(bool heads, const std::function<std::string()>& render) const;

private:
    mutable std::mutex render_mutex_;
    mutable std::optional<std::string> rendered_[2];
};

struct SlotStats {
    bool busy = false;
    uint32_t tokens = 0;         // in the conversation the slot holds
    uint32_t cache_entries = 0;  // per layer and KV head
};

struct PoolStats {
    std::vector<SlotStats> slots;
    size_t queued = 0;
    uint64_t kv_cache_bytes = 0;    // all slots' rings: fixed at start
    uint64_t kv_bytes_in_use = 0;   // the keys and values of the entries they hold now
    uint64_t tokens_generated = 0;  // since start
    double tokens_per_second = 0;   // over the last few seconds
    // Since start (GET /metrics):
    uint64_t prompt_tokens = 0;  // processed
    uint64_t cached_tokens = 0;  // reused from a slot's cache instead
    EvictionCounts evictions;    // over every slot, layer and KV head, as of each slot's last reply
    Histogram time_to_first_token = first_token_histogram();
    Histogram time_per_output_token = per_token_histogram();
};

class SlotPool {
public:
    // A slot per sequence of `engine`, each with `cache` settings. A prompt goes in
    // Engine::prefill_chunk() tokens per turn of the worker, so the slots that
    // decode are held up at most that long by a new conversation's prompt.
    // `max_prompt_tokens`: a longer prompt fails its job (0: no cap).
    // With `publish_views`, each slot's cache view is published for view().
    SlotPool(Engine& engine, const ModelConfig& config, const Tokenizer& tokenizer, std::optional<ChatTemplate> chat,
             const CacheSettings& cache, size_t max_queue, int64_t max_prompt_tokens, bool publish_views = false);
    ~SlotPool();  // stops the worker

    // Queues a job; false when the queue is full (the caller answers 503).
    bool submit(const std::shared_ptr<Job>& job);
    // Every job, running or queued, ends at once with Finish::shutdown; later ones are refused.
    void shutdown();
    PoolStats stats() const;
    bool idle() const;  // no job running or queued
    // The view published under `token` (the one a job's view_token names), or none: no
    // slot holds that reply's conversation any more, or it never started. Never waits.
    std::shared_ptr<const PublishedView> view(const std::string& token) const;
    uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
    static constexpr uint32_t kLoggedTokens = 4096;  // per slot, for the view's text
    // While a reply runs, its view is published this often: enough for a person watching, and
    // rare enough that readers' renderings cost the decoding little.
    static constexpr std::chrono::milliseconds kPublishInterval{1000};
    bool has_chat_template() const { return chat_.has_value(); }

private:
    struct Slot {
        explicit Slot(Generator g) : generator(std::move(g)) {}
        Generator generator;  // the slot's sequence of the engine
        std::shared_ptr<Job> job;
        std::vector<ChatMessage> history;  // the conversation in the cache (a chat's), with the reply so far
        bool reply_ended = true;           // the last reply ended with its end of turn (it waits in the generator)
        uint32_t tokens = 0;               // in the cache after the worker's last turn (for stats)
        uint32_t entries = 0;              // cache entries then
        uint64_t kv_bytes = 0;             // the keys and values they hold, every layer's
        std::string reply;                 // text generated for the job
        std::deque<int32_t> log;           // the newest tokens of the conversation, from position log_first
        EvictionCounts evictions;          // its cache's counts at the end of its last reply
        uint32_t log_first = 0;
        std::string view_token;                              // the credential of the reply whose conversation it holds
        bool publish_due = false;                            // its view is published at the worker's next chance
        std::chrono::steady_clock::time_point published_at;  // when its view was last published
        void log_tokens(std::span<const int32_t> tokens);
        void clear_log() { log.clear(), log_first = 0; }
    };

    void run();     // the worker
    bool assign();  // queued jobs to free slots; true if any started
    void start(uint32_t b, const std::shared_ptr<Job>& job);
    // The most tokens a reply may have after `length` tokens (the last waiting): a full
    // cache's room, or the context with original positions; `limit` says which binds.
    int64_t reply_room(uint64_t length, std::string* limit) const;
    void release(uint32_t b, Job::Finish finish, const std::string& error = "");
    // Slot b failed while it ran: its job ends (the server's fault), its cache is emptied. mutex_ held.
    void fail(uint32_t b, const std::string& error);
    // One turn of the engine for the slots that decode: a batched step, or, when the engine
    // refuses it, a step per slot, so that only a slot whose step is refused fails.
    void step_isolated(std::vector<SequenceStep>& steps, std::vector<uint32_t>& decoding);
    // Publishes the views that are due (the worker, without mutex_: it reads the engine).
    void publish_due();
    // Tells the jobs release() ended (after publish_due(), without mutex_).
    void finish_released();
    void publish(uint32_t b, std::shared_ptr<const PublishedView> view);  // swaps the pointer
    // Before slot b's cache is emptied: its evictions and merges move to retired_
    // (read from the engine, or the last counts read if the engine failed).
    void retire_evictions(uint32_t b, bool engine_ok);

    const Tokenizer& tokenizer_;
    std::optional<ChatTemplate> chat_;
    CacheSettings cache_;
    Engine& engine_;
    std::vector<Slot> slots_;
    struct Released {
        std::shared_ptr<Job> job;
        Job::Finish finish;
        std::string error;
        Job::Blame blame;
    };
    std::vector<Released> released_;  // ended by release(), not yet told (the worker's alone)

    mutable std::mutex mutex_;
    std::condition_variable work_;
    std::deque<std::shared_ptr<Job>> queue_;
    size_t max_queue_;
    int64_t max_prompt_tokens_;
    bool stop_ = false;
    const bool publish_views_;
    mutable std::mutex views_mutex_;                               // held only to swap or copy a pointer
    std::vector<std::shared_ptr<const PublishedView>> published_;  // per slot
    std::mt19937_64 etags_{std::random_device{}()};                // the worker's alone
    uint64_t generated_ = 0;
    uint64_t prompt_tokens_ = 0, cached_tokens_ = 0;
    EvictionCounts retired_;  // of conversations whose slot has been emptied since
    Histogram first_token_ = first_token_histogram(), per_token_ = per_token_histogram();
    std::deque<std::pair<double, uint64_t>> recent_;  // (seconds since start, tokens generated then)
    uint32_t context_;                                // the model's positions (original positions end there)
    std::thread worker_;
};

}  // namespace wkv
