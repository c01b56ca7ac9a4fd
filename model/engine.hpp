// The one interface every driver of the model is written against: B sequences,
// each with its own KV cache and policy, advanced one token per step. The CPU
// reference (model/cpu_engine.hpp) and the Vulkan engine
// (runtime/batch_engine.hpp) both are one, so generation, serving and
// perplexity are each written once and the GPU is always checkable against
// the CPU. `Sequence` drives one sequence of an engine on its own.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cache_view.hpp"
#include "config.hpp"
#include "error.hpp"
#include "policy.hpp"
#include "sampler.hpp"

namespace wkv {

// What a step hands back for a sequence: nothing, its logits, the NLL of a
// target, or its greedy next token (the first index of the largest logit).
enum class StepOutput { none, logits, nll, token };

struct SequenceStep {
    bool active = true;  // an inactive sequence is left untouched this step
    int32_t token = 0;
    uint32_t pos = 0;
    StepOutput output = StepOutput::none;
    int32_t target = 0;  // for StepOutput::nll
};

// What the host did to drive a device engine, counted since it was made:
// command buffers submitted, dispatches recorded, seconds spent recording
// them and seconds blocked waiting for the device. (`wkv bench` reports them
// per token; an engine that dispatches nothing reports zeros.)
struct HostCounters {
    uint64_t submits = 0, dispatches = 0;
    double record_seconds = 0, wait_seconds = 0;
};

// Device time of one shader over the profiled steps.
struct ShaderTime {
    std::string shader;
    uint64_t dispatches = 0;
    double seconds = 0;
};

class Engine {
public:
    virtual ~Engine() = default;

    virtual uint32_t size() const = 0;  // sequences
    // One token for every active sequence: steps[b] for sequence b (size() entries).
    // An error (a token outside the vocabulary, a full cache) is thrown before any
    // sequence moves.
    virtual void step(std::span<const SequenceStep> steps) = 0;
    // Feeds tokens of sequence `seq` at first_pos, first_pos + 1, ...: the same as
    // stepping them one at a time, bit for bit (an engine may read each weight once
    // for several). With `logits`, the last token's logits are kept (logits(seq)).
    // Every token is checked before the first goes in.
    virtual void prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) = 0;
    // The most prompt tokens one prefill processes together; a scheduler that
    // shares the engine between sequences feeds a prompt in pieces of this size.
    virtual uint32_t prefill_chunk() const = 0;
    // Empties that sequence's cache; the memory stays allocated.
    virtual void reset(uint32_t seq) = 0;

    // After a step: what it asked of sequence `seq`.
    virtual std::vector<float> logits(uint32_t seq) const = 0;
    virtual double nll(uint32_t seq) const = 0;
    virtual int32_t token(uint32_t seq) const = 0;

    // Entries in that sequence's cache now, per layer and KV head (at most its budget).
    virtual uint32_t entries(uint32_t seq) const = 0;
    // The bytes of the keys and values it holds now, every layer's (a sliding-window layer
    // holds at most its window).
    virtual uint64_t kv_bytes_held(uint32_t seq) const = 0;
    // What that sequence's cache holds now (a device engine reads it back: for
    // views and traces, not for every step).
    virtual CacheView cache_view(uint32_t seq) const = 0;
    // Its evictions and merges over every layer and head, since it was last empty
    // (a device engine reads back only its counters).
    virtual EvictionCounts eviction_counts(uint32_t seq) const { return cache_view(seq).total(); }
    // Bytes allocated for every sequence's KV cache and its bookkeeping: fixed at construction.
    virtual uint64_t kv_cache_bytes() const = 0;
    // Bytes of all weights, as this engine stores them.
    virtual uint64_t weight_bytes() const = 0;
    // Bytes of weights one token reads: all but the embedding table, of which one
    // row (the bandwidth figure of `wkv bench` divides this by time).
    virtual uint64_t bytes_read_per_token() const = 0;
    virtual std::string device_name() const = 0;

    virtual HostCounters host_counters() const { return {}; }
    // Device time per shader from now on (`--profile`); nothing where nothing is dispatched.
    virtual void enable_profiling() {}
    virtual std::vector<ShaderTime> profile() const { return {}; }
};

// The checks every engine makes before a step moves a sequence whose cache
// holds `entries` per layer and head: the token (and an NLL's target) inside the
// vocabulary, room in the cache, and an original position inside the context.
void check_step(const ModelConfig& config, const CacheSettings& settings, uint32_t entries, const SequenceStep& step);
// The same for a prompt fed after those entries: every token, as the cache grows.
void check_prefill(const ModelConfig& config, const CacheSettings& settings, uint32_t entries,
                   std::span<const int32_t> tokens, uint32_t first_pos);

// The error for a step whose logits hold a NaN or +inf (argmax(), the sampler and the
// device's argmax then give -1): the token fed at `pos` gave no next token.
Error broken_logits_error(uint32_t pos);

// One sequence of an engine, driven alone: the others stay as they are. The
// calls a single-sequence loop or test makes, each one step or prefill.
class Sequence {
public:
    explicit Sequence(Engine& engine, uint32_t seq = 0);

    // Runs `token` at absolute position `pos`, appending it to the cache; returns the logits.
    const std::vector<float>& forward(int32_t token, uint32_t pos);
    // Runs `token` and returns the token `sampler` picks next. Greedy sampling
    // asks the engine for the token itself (a GPU hands back only its id).
    // Throws broken_logits_error() where the logits are not finite.
    int32_t next_token(int32_t token, uint32_t pos, Sampler& sampler);
    // Feeds tokens without logits (a context nobody scores).
    void feed(int32_t token, uint32_t pos);
    void feed(std::span<const int32_t> tokens, uint32_t first_pos) { engine_.prefill(seq_, tokens, first_pos, false); }
    // Feeds `token` and returns the negative log-likelihood of `target` as the next token.
    double nll(int32_t token, uint32_t pos, int32_t target);
    void reset() { engine_.reset(seq_); }
    uint32_t entries() const { return engine_.entries(seq_); }
    Engine& engine() { return engine_; }

private:
    void run(const SequenceStep& step);

    Engine& engine_;
    uint32_t seq_;
    std::vector<SequenceStep> steps_;  // every sequence inactive but this one
    std::vector<float> logits_;
};

}  // namespace wkv
