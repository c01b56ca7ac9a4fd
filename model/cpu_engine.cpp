#include "cpu_engine.hpp"

#include <algorithm>
#include <stdexcept>

namespace wkv {

CpuEngine::CpuEngine(const Model& model, std::vector<CacheSettings> sequences)
    : model_(model), sequences_(std::move(sequences)), outputs_(sequences_.size()) {
    if (sequences_.empty()) throw std::logic_error("CpuEngine needs at least one sequence");
    uint32_t run_positions = 0;  // one choice of LongRoPE factors for the run, as on the device
    for (const CacheSettings& s : sequences_) run_positions = std::max(run_positions, s.positions_held(model.config));
    for (const CacheSettings& s : sequences_)
        references_.push_back(std::make_unique<Reference>(model, s, run_positions));
}

uint64_t CpuEngine::kv_bytes_held(uint32_t seq) const {
    const KvCache& cache = references_.at(seq)->cache();
    uint64_t entries = 0;
    for (uint32_t l = 0; l < model_.config.n_layers; l++) entries += cache.length(l, 0);
    return entries * kv_layer_entry_bytes(model_.config, sequences_[seq].kv_type);
}

void CpuEngine::step(std::span<const SequenceStep> steps) {
    if (steps.size() != size()) throw std::logic_error("CpuEngine::step needs one entry per sequence");
    for (uint32_t b = 0; b < size(); b++) {
        if (steps[b].active) check_step(model_.config, sequences_[b], entries(b), steps[b]);
    }
    for (uint32_t b = 0; b < size(); b++) {
        const SequenceStep& s = steps[b];
        if (!s.active) continue;
        Reference& r = *references_[b];
        Output& out = outputs_[b];
        switch (s.output) {
            case StepOutput::none: r.feed(s.token, s.pos); break;
            case StepOutput::logits: out.logits = r.forward(s.token, s.pos); break;
            case StepOutput::nll: out.nll = r.nll(s.token, s.pos, s.target); break;
            case StepOutput::token: out.token = argmax(r.forward(s.token, s.pos)); break;
        }
    }
}

void CpuEngine::prefill(uint32_t seq, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) {
    check_prefill(model_.config, sequences_.at(seq), entries(seq), tokens, first_pos);  // nothing moves on a bad token
    std::vector<SequenceStep> steps(size());
    for (SequenceStep& s : steps) s.active = false;
    for (size_t i = 0; i < tokens.size(); i++) {
        const bool last = i + 1 == tokens.size();
        steps[seq] = {true, tokens[i], first_pos + static_cast<uint32_t>(i),
                      last && logits ? StepOutput::logits : StepOutput::none, 0};
        step(steps);
    }
}

void CpuEngine::reset(uint32_t seq) {
    references_.at(seq)->reset();
    outputs_.at(seq) = {};
}

uint64_t CpuEngine::kv_cache_bytes() const {
    uint64_t total = 0;
    for (const auto& r : references_) total += r->cache().bytes();
    return total;
}

}  // namespace wkv
