// How `wkv serve` starts and stops. SIGINT and SIGTERM go to one thread (stopping
// the server is not async-signal-safe, so no handler does it). Before the server
// listens, a signal ends the process at once: there is nothing to finish. Once it
// listens, SIGINT (or SIGTERM without --drain-seconds) ends every reply at once
// with an error its client is sent; SIGTERM with --drain-seconds N first drains:
// new requests get 503 while the replies in flight have up to N seconds to
// finish (a second signal ends the wait). Then the connections close and
// listen() returns.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <thread>

#include "http_server.hpp"
#include "serve_slots.hpp"

namespace wkv {

// Replies being made: a shutdown lets each send its last event before the connections close.
class RepliesInFlight {
public:
    struct Token {
        RepliesInFlight& owner;
        explicit Token(RepliesInFlight& o) : owner(o) { owner.count_++; }
        ~Token() { owner.count_--; }
    };
    // Waits until none is left, or `limit` has passed.
    void wait_for_none(std::chrono::milliseconds limit) const;

private:
    std::atomic<int> count_{0};
};

class ServeLifecycle {
public:
    // Blocks SIGINT and SIGTERM in this thread and every thread started from here on (the
    // driver's too), and starts the thread that waits for them. Make it before anything slow.
    explicit ServeLifecycle(int64_t drain_seconds);
    ~ServeLifecycle();  // however serving ends: wakes the signal thread and joins it
    ServeLifecycle(const ServeLifecycle&) = delete;
    ServeLifecycle& operator=(const ServeLifecycle&) = delete;

    // `server` listens from now on, its replies made by `pool`: a signal stops both.
    void serving(HttpServer& server, SlotPool& pool);
    // listen() has returned.
    void finished();
    // SIGTERM arrived with --drain-seconds: new requests are refused, replies in flight go on.
    bool draining() const { return draining_; }
    RepliesInFlight& replies() { return replies_; }

private:
    void wait_for_signals();  // the signal thread

    sigset_t signals_;
    int64_t drain_seconds_;
    std::mutex mutex_;
    HttpServer* server_ = nullptr;  // while listening
    SlotPool* pool_ = nullptr;
    bool finished_ = false;
    std::atomic<bool> draining_{false};
    RepliesInFlight replies_;
    std::thread thread_;
};

}  // namespace wkv
