// The Engine interface on the CPU reference: B independent sequences, each a
// Reference of its own, stepped one after another. Nothing is shared or
// batched, so it stays the plain oracle the GPU engine is checked against.
#pragma once

#include <memory>
#include <vector>

#include "engine.hpp"
#include "model.hpp"
#include "reference.hpp"

namespace wkv {

class CpuEngine final : public Engine {
public:
    CpuEngine(const Model& model, std::vector<CacheSettings> sequences);

    uint32_t size() const override { return static_cast<uint32_t>(sequences_.size()); }
    void step(std::span<const SequenceStep> steps) override;
    void prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) override;
    uint32_t prefill_chunk() const override { return 1; }  // one token at a time: nothing to share
    void reset(uint32_t seq) override;

    std::vector<float> logits(uint32_t seq) const override { return outputs_.at(seq).logits; }
    double nll(uint32_t seq) const override { return outputs_.at(seq).nll; }
    int32_t token(uint32_t seq) const override { return outputs_.at(seq).token; }

    uint32_t entries(uint32_t seq) const override { return references_.at(seq)->entries(); }
    uint64_t kv_bytes_held(uint32_t seq) const override;
    CacheView cache_view(uint32_t seq) const override {
        return view_of(references_.at(seq)->cache(), model_.config.n_layers);
    }
    uint64_t kv_cache_bytes() const override;
    uint64_t weight_bytes() const override { return model_.weight_bytes(); }
    uint64_t bytes_read_per_token() const override { return model_.bytes_read_per_token(); }
    std::string device_name() const override { return "CPU reference"; }

    // Sequence b's reference: its cache and last attention, for tests.
    const Reference& reference(uint32_t seq) const { return *references_.at(seq); }

private:
    struct Output {
        std::vector<float> logits;
        double nll = 0;
        int32_t token = 0;
    };

    const Model& model_;
    std::vector<CacheSettings> sequences_;
    std::vector<std::unique_ptr<Reference>> references_;
    std::vector<Output> outputs_;
};

}  // namespace wkv
