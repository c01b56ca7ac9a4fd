// An eviction trace (--trace FILE.jsonl): after every step of the sequences
// it follows, one JSON line per layer saying what the step did to each KV
// head's cache: the positions evicted, the entries their values were merged
// into (with the tokens and weight each gained) and the entries held. It is
// collected in memory up to a bound, then written whole, as --json files are
// (output.hpp): a full disk or a bad path leaves no half-written file.
// bench/retention_plot.py draws it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "cache_view.hpp"
#include "engine.hpp"
#include "output.hpp"

namespace wkv {

class CacheTrace {
public:
    // The most bytes a trace holds; past it the steps are counted, not recorded.
    static constexpr uint64_t kMaxBytes = uint64_t{64} << 20;

    explicit CacheTrace(const std::string& path, uint64_t max_bytes = kMaxBytes);

    // After a step of the sequence `key` (a new key starts from an empty cache),
    // whose cache is now `view`: `appended` are the positions the step fed.
    // `labels` go into every record (the document, the policy).
    void observe(const std::string& key, const nlohmann::json& labels, CacheView view,
                 std::span<const uint32_t> appended);
    void forget(const std::string& key);  // that sequence starts afresh
    // Writes the file; the last line says how many steps were recorded and dropped.
    void write() const;

private:
    struct Followed {
        CacheView last;
        uint64_t steps = 0;
    };
    OutputFile out_;
    uint64_t max_bytes_;
    std::string text_;
    std::map<std::string, Followed> followed_;
    uint64_t recorded_ = 0, dropped_ = 0;
};

// An engine that traces: every step and prefill of the wrapped engine, a token
// at a time (prefill equals stepping, bit for bit), with each active
// sequence's view handed to the trace after each token. For `wkv generate`.
class TracedEngine : public Engine {
public:
    TracedEngine(Engine& inner, CacheTrace& trace, nlohmann::json labels);

    uint32_t size() const override { return inner_.size(); }
    void step(std::span<const SequenceStep> steps) override;
    void prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) override;
    uint32_t prefill_chunk() const override { return 1; }
    void reset(uint32_t seq) override;
    std::vector<float> logits(uint32_t seq) const override { return inner_.logits(seq); }
    double nll(uint32_t seq) const override { return inner_.nll(seq); }
    int32_t token(uint32_t seq) const override { return inner_.token(seq); }
    uint32_t entries(uint32_t seq) const override { return inner_.entries(seq); }
    uint64_t kv_bytes_held(uint32_t seq) const override { return inner_.kv_bytes_held(seq); }
    CacheView cache_view(uint32_t seq) const override { return inner_.cache_view(seq); }
    uint64_t kv_cache_bytes() const override { return inner_.kv_cache_bytes(); }
    uint64_t weight_bytes() const override { return inner_.weight_bytes(); }
    uint64_t bytes_read_per_token() const override { return inner_.bytes_read_per_token(); }
    std::string device_name() const override { return inner_.device_name(); }
    HostCounters host_counters() const override { return inner_.host_counters(); }

private:
    void observe(uint32_t seq, uint32_t pos);

    Engine& inner_;
    CacheTrace& trace_;
    nlohmann::json labels_;
};

}  // namespace wkv
