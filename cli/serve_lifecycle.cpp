#include "serve_lifecycle.hpp"

#include <cstdio>
#include <cstdlib>

namespace wkv {

void RepliesInFlight::wait_for_none(std::chrono::milliseconds limit) const {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (count_ > 0 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

ServeLifecycle::ServeLifecycle(int64_t drain_seconds) : drain_seconds_(drain_seconds) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this] { wait_for_signals(); });
}

ServeLifecycle::~ServeLifecycle() {
    finished();
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
}

void ServeLifecycle::serving(HttpServer& server, SlotPool& pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    server_ = &server;
    pool_ = &pool;
}

void ServeLifecycle::finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
}

void ServeLifecycle::wait_for_signals() {
    int signal = 0;
    sigwait(&signals_, &signal);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (finished_) return;
        if (!server_) std::_Exit(128 + signal);  // still loading: nothing to finish or flush
    }
    if (signal == SIGTERM && drain_seconds_ > 0) {
        draining_ = true;
        std::fprintf(stderr, "wkv serve: draining: replies in flight have %lld s to finish\n",
                     static_cast<long long>(drain_seconds_));
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds_);
        const timespec slice{0, 100'000'000};
        while (std::chrono::steady_clock::now() < until) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (finished_ || pool_->idle()) break;
            }
            if (sigtimedwait(&signals_, nullptr, &slice) > 0) break;  // asked again: stop now
        }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    // Every reply ends now, with an error its client is sent; then the connections close.
    pool_->shutdown();
    server_->stop_connections();
    replies_.wait_for_none(std::chrono::seconds(3));  // (httplib ends a stream mid-way once stopped)
    server_->stop();
}

}  // namespace wkv
