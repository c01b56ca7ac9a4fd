// GET /metrics of `wkv serve`: what an operator's Prometheus scrapes, in its
// text exposition format (version 0.0.4), checked in CI by `promtool check
// metrics`. The pool's counters and histograms come from SlotPool::stats(); the
// requests by status from the HTTP layer.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace wkv {

// A Prometheus histogram of seconds with fixed bucket bounds.
class Histogram {
public:
    explicit Histogram(std::vector<double> upper_bounds);
    void observe(double value);
    // The _bucket (cumulative, with +Inf), _sum and _count lines under `name`.
    void render(std::string& out, const std::string& name, const std::string& help) const;
    uint64_t count() const { return count_; }

private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, not cumulative
    double sum_ = 0;
    uint64_t count_ = 0;
};

// The buckets of a time to first token and of a time per output token.
Histogram first_token_histogram();
Histogram per_token_histogram();

// Replies by HTTP status, counted as each is sent.
class StatusCounts {
public:
    void count(int status);
    std::map<int, uint64_t> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::map<int, uint64_t> counts_;
};

struct PoolStats;

// What /metrics reports besides the pool's figures.
struct ServerFigures {
    std::string policy;  // the cache policy's name, a label of evictions and merges
    uint64_t resident_bytes = 0;
    uint64_t device_bytes = 0;
    std::map<int, uint64_t> replies_by_status;
};

std::string render_metrics(const PoolStats& pool, const ServerFigures& server);

}  // namespace wkv
