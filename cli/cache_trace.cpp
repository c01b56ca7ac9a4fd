#include "cache_trace.hpp"

#include <vector>

namespace wkv {

CacheTrace::CacheTrace(const std::string& path, uint64_t max_bytes) : out_(path, "--trace"), max_bytes_(max_bytes) {}

void CacheTrace::observe(const std::string& key, const nlohmann::json& labels, CacheView view,
                         std::span<const uint32_t> appended) {
    Followed& f = followed_[key];
    const std::vector<HeadChange> changes = step_changes(f.last, view, appended);
    std::string lines;
    for (uint32_t l = 0; l < view.n_layers; l++) {
        nlohmann::json evicted = nlohmann::json::array(), merged_into = nlohmann::json::array(),
                       held = nlohmann::json::array();
        for (uint32_t h = 0; h < view.n_kv_heads; h++) {
            const HeadChange& c = changes[size_t{l} * view.n_kv_heads + h];
            evicted.push_back(c.evicted);
            nlohmann::json into = nlohmann::json::array();
            for (const MergeInto& m : c.merged_into) into.push_back({m.position, m.merged, m.weight});
            merged_into.push_back(into);
            nlohmann::json positions = nlohmann::json::array();
            for (const HeldEntry& e : view.entries(l, h)) positions.push_back(e.position);
            held.push_back(positions);
        }
        nlohmann::json record = labels;
        record["step"] = f.steps;
        record["pos"] = appended.empty() ? nlohmann::json() : nlohmann::json(appended.back());
        record["layer"] = l;
        record["evicted"] = evicted;
        record["merged_into"] = merged_into;  // per head: [position, tokens gained, weight gained]
        record["held"] = held;
        lines += record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    f.steps++;
    f.last = std::move(view);
    if (text_.size() + lines.size() > max_bytes_) {
        dropped_++;
        return;
    }
    text_ += lines;
    recorded_++;
}

void CacheTrace::forget(const std::string& key) { followed_.erase(key); }

void CacheTrace::write() const {
    const nlohmann::json end = {
        {"end", true}, {"steps_recorded", recorded_}, {"steps_dropped", dropped_}, {"max_bytes", max_bytes_}};
    out_.write(text_ + end.dump() + "\n");
}

TracedEngine::TracedEngine(Engine& inner, CacheTrace& trace, nlohmann::json labels)
    : inner_(inner), trace_(trace), labels_(std::move(labels)) {}

void TracedEngine::observe(uint32_t seq, uint32_t pos) {
    nlohmann::json labels = labels_;
    labels["sequence"] = seq;
    const uint32_t appended[] = {pos};
    trace_.observe(std::to_string(seq), labels, inner_.cache_view(seq), appended);
}

void TracedEngine::step(std::span<const SequenceStep> steps) {
    inner_.step(steps);
    for (uint32_t b = 0; b < steps.size(); b++) {
        if (steps[b].active) observe(b, steps[b].pos);
    }
}

void TracedEngine::prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) {
    for (size_t i = 0; i < tokens.size(); i++) {
        const auto pos = static_cast<uint32_t>(first_pos + i);
        inner_.prefill(seq, tokens.subspan(i, 1), pos, logits && i + 1 == tokens.size());
        observe(seq, pos);
    }
}

void TracedEngine::reset(uint32_t seq) {
    inner_.reset(seq);
    trace_.forget(std::to_string(seq));
}

}  // namespace wkv
