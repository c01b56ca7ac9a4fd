#include "serve_metrics.hpp"

#include <charconv>

#include "build_info.hpp"
#include "serve_slots.hpp"

namespace wkv {

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
    size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) i++;
    counts_[i]++;
    sum_ += value;
    count_++;
}

namespace {

// The shortest text that reads back as x.
std::string number(double x) {
    char text[64];
    const auto end = std::to_chars(text, text + sizeof text, x).ptr;
    return std::string(text, end);
}

void header(std::string& out, const std::string& name, const char* type, const std::string& help) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void single(std::string& out, const std::string& name, const char* type, const std::string& help, double value,
            const std::string& labels = "") {
    header(out, name, type, help);
    out += name + labels + " " + number(value) + "\n";
}

// A label value as the exposition format quotes it.
std::string label(const std::string& value) {
    std::string out;
    for (char c : value) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return "\"" + out + "\"";
}

}  // namespace

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
    header(out, name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts_.size(); i++) {
        cumulative += counts_[i];
        const std::string le = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
        out += name + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
    }
    out += name + "_sum " + number(sum_) + "\n";
    out += name + "_count " + std::to_string(count_) + "\n";
}

Histogram first_token_histogram() { return Histogram({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}); }
Histogram per_token_histogram() { return Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}); }

void StatusCounts::count(int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_[status]++;
}

std::map<int, uint64_t> StatusCounts::snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_;
}

std::string render_metrics(const PoolStats& pool, const ServerFigures& server) {
    std::string out;
    single(out, "wkv_build_info", "gauge", "The version and commit of this server (always 1).", 1,
           "{version=" + label(WKV_BUILD_VERSION) + ",commit=" + label(WKV_BUILD_COMMIT) + "}");
    header(out, "wkv_http_requests_total", "counter", "HTTP replies sent, by status code.");
    for (const auto& [status, n] : server.replies_by_status)
        out += "wkv_http_requests_total{code=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
    single(out, "wkv_prompt_tokens_total", "counter", "Prompt tokens processed (not those already cached).",
           static_cast<double>(pool.prompt_tokens));
    single(out, "wkv_prompt_tokens_cached_total", "counter",
           "Prompt tokens a conversation's slot already held, so not processed again.",
           static_cast<double>(pool.cached_tokens));
    single(out, "wkv_generation_tokens_total", "counter", "Tokens generated.",
           static_cast<double>(pool.tokens_generated));
    single(out, "wkv_requests_queued", "gauge", "Requests waiting for a free slot.", static_cast<double>(pool.queued));
    size_t busy = 0;
    for (const SlotStats& s : pool.slots) busy += s.busy;
    single(out, "wkv_slots", "gauge", "Conversation slots, each with its own fixed-size KV cache.",
           static_cast<double>(pool.slots.size()));
    single(out, "wkv_slots_busy", "gauge", "Slots running a request now.", static_cast<double>(busy));
    single(out, "wkv_kv_cache_bytes", "gauge", "Bytes allocated for every slot's KV cache, fixed at start.",
           static_cast<double>(pool.kv_cache_bytes));
    single(out, "wkv_kv_cache_bytes_in_use", "gauge", "Bytes of the keys and values the caches hold now.",
           static_cast<double>(pool.kv_bytes_in_use));
    const std::string policy = "{policy=" + label(server.policy) + "}";
    single(out, "wkv_kv_evictions_total", "counter", "KV cache entries evicted, over every layer and KV head.",
           static_cast<double>(pool.evictions.evictions), policy);
    single(out, "wkv_kv_merges_total", "counter",
           "Evicted entries whose value was merged into the entries kept (WeightedKV, CaM).",
           static_cast<double>(pool.evictions.merges), policy);
    pool.time_to_first_token.render(out, "wkv_time_to_first_token_seconds",
                                    "From a request's arrival to its first token, queueing and prompt included.");
    pool.time_per_output_token.render(out, "wkv_time_per_output_token_seconds",
                                      "Mean time between a reply's tokens after the first, per reply.");
    single(out, "wkv_resident_memory_bytes", "gauge", "Resident memory of the server process.",
           static_cast<double>(server.resident_bytes));
    single(out, "wkv_device_memory_bytes", "gauge", "Vulkan device memory the server holds (0 with --cpu).",
           static_cast<double>(server.device_bytes));
    return out;
}

}  // namespace wkv
