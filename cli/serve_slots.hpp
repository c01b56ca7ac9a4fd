// The conversations `wkv serve` decodes together: N slots of one BatchEngine,
// each with its own fixed-size cache and policy state, driven by one worker
// thread. Requests wait in a bounded queue for a free slot. A slot keeps the
// conversation its cache holds, so a client that sends the whole history again
// (as OpenAI clients do) continues in the slot that has it: only the messages
// after what the slot holds are processed. Greedy replies do not depend on what
// else runs: a batch equals each sequence alone, bit for bit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chat_template.hpp"
#include "runtime/batch_engine.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"
#include "utf8_stream.hpp"

namespace wkv {

// One request's reply, handed from the worker to the HTTP thread as it comes.
class Job {
public:
    // What the request asks for.
    std::vector<ChatMessage> messages;  // a chat; empty for a plain completion
    std::string prompt;                 // a plain completion's text
    int64_t max_tokens = 256;
    SamplerSettings sampling;

    enum class Finish { none, stop, length, cancelled, failed, shutdown };

    // Worker side.
    void push(const std::string& piece);
    void finish(Finish reason, std::string error = "");
    // HTTP side: waits up to `timeout_ms` for more text; returns the text since the
    // last call, and sets *finish once the reply is complete.
    std::string next(int timeout_ms, Finish* finish);
    void cancel();  // the client is gone: the slot is freed at the worker's next turn
    bool cancelled() const;

    uint32_t prompt_tokens = 0;      // processed for this request (after any reuse)
    uint32_t reused_tokens = 0;      // already in the slot's cache
    int64_t completion_tokens = 0;
    std::string error;               // for Finish::failed and shutdown
    std::string error_param;         // the request field the error is about ("" for none)

private:
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::string unread_;
    Finish finish_ = Finish::none;
    bool cancelled_ = false;
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
};

class SlotPool {
public:
    // `prompt_chunk`: the most prompt tokens of one slot fed at once (each weight is
    // read once for them). One chunk per slot per turn of the worker, so the slots
    // that decode are held up at most that long by a new conversation's prompt.
    // `max_prompt_tokens`: a longer prompt fails its job (0: no cap).
    SlotPool(Context& ctx, const GpuWeights& weights, const Tokenizer& tokenizer, std::optional<ChatTemplate> chat,
             const CacheSettings& cache, uint32_t slots, size_t max_queue, uint32_t prompt_chunk, int64_t max_prompt_tokens);
    ~SlotPool();  // stops the worker

    // Queues a job; false when the queue is full (the caller answers 503).
    bool submit(const std::shared_ptr<Job>& job);
    // Every job, running or queued, ends at once with Finish::shutdown; later ones are refused.
    void shutdown();
    PoolStats stats() const;
    bool has_chat_template() const { return chat_.has_value(); }

private:
    struct Slot {
        std::shared_ptr<Job> job;
        std::vector<ChatMessage> history;  // the conversation in the cache (a chat's), with the reply so far
        bool reply_ended = true;           // the last reply ended with its end of turn (it waits as `pending`)
        std::vector<int32_t> to_feed;      // prompt tokens not yet in the cache
        std::optional<int32_t> pending;    // the token whose logits come next
        uint32_t pos = 0;                  // tokens in the cache
        uint32_t entries = 0;              // cache entries after the worker's last turn (for stats)
        std::optional<Sampler> sampler;
        std::string reply;                 // text generated for the job
        Utf8Stream text;                   // the reply's bytes, released in whole characters
    };

    void run();                       // the worker
    bool assign();                    // queued jobs to free slots; true if any started
    void start(uint32_t b, const std::shared_ptr<Job>& job);
    void release(uint32_t b, Job::Finish finish, const std::string& error = "");
    bool ends_reply(int32_t token) const;

    const Tokenizer& tokenizer_;
    std::optional<ChatTemplate> chat_;
    CacheSettings cache_;
    BatchEngine batch_;
    std::vector<Slot> slots_;

    mutable std::mutex mutex_;
    std::condition_variable work_;
    std::deque<std::shared_ptr<Job>> queue_;
    size_t max_queue_;
    int64_t max_prompt_tokens_;
    bool stop_ = false;
    uint64_t generated_ = 0;
    std::deque<std::pair<double, uint64_t>> recent_;  // (seconds since start, tokens generated then)
    std::thread worker_;
};

}  // namespace wkv
