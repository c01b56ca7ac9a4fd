// What the CLI drives: one token in, logits out. The CPU reference
// (model/reference.hpp) and the Vulkan engine (runtime/gpu_engine.hpp) both are one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sampler.hpp"

namespace wkv {

// What the host did to drive a device engine, counted since it was made:
// command buffers submitted, dispatches recorded, seconds spent recording
// them and seconds blocked waiting for the device. (`wkv bench` reports them
// per token: on a CPU driver the wait is the compute itself.)
struct HostCounters {
    uint64_t submits = 0, dispatches = 0;
    double record_seconds = 0, wait_seconds = 0;
};

class Engine {
public:
    virtual ~Engine() = default;
    // Runs `token` at absolute position `pos`, appending it to the KV cache; returns the logits.
    virtual const std::vector<float>& forward(int32_t token, uint32_t pos) = 0;
    // Runs `token` as forward() does and returns the token `sampler` picks
    // next (Sampler::sample). An engine may pick it where the logits are: a GPU
    // engine decoding greedily hands back only the token id.
    virtual int32_t next_token(int32_t token, uint32_t pos, Sampler& sampler) { return sampler.sample(forward(token, pos)); }
    // Feeds `token` without computing logits: a context token nobody scores.
    virtual void feed(int32_t token, uint32_t pos) = 0;
    // Feeds tokens at first_pos, first_pos + 1, ...: the same as feeding them one at a
    // time (an engine may process them in chunks, reading each weight once per chunk).
    virtual void feed(std::span<const int32_t> tokens, uint32_t first_pos) {
        for (size_t i = 0; i < tokens.size(); i++) feed(tokens[i], first_pos + static_cast<uint32_t>(i));
    }
    // Feeds `token` and returns the negative log-likelihood of `target` as the
    // next token, computed where the logits are (on a GPU only a float comes back).
    virtual double nll(int32_t token, uint32_t pos, int32_t target) = 0;
    // Empties the KV cache (a new sequence); the memory stays allocated.
    virtual void reset() = 0;
    // Bytes allocated for the KV cache and its bookkeeping: fixed at construction.
    virtual uint64_t kv_cache_bytes() const = 0;
    // Entries in the cache now, per layer and KV head (at most the budget).
    virtual uint32_t cache_entries() const = 0;
    // Bytes of all weights, as this engine stores them.
    virtual uint64_t weight_bytes() const = 0;
    // Bytes of weights one forward pass reads: all but the embedding table, of
    // which one row (the bandwidth figure of `wkv bench` divides this by time).
    virtual uint64_t bytes_read_per_token() const = 0;
    virtual std::string device_name() const = 0;
    virtual HostCounters host_counters() const { return {}; }  // zero where nothing is dispatched
};

}  // namespace wkv
