#include "batch_engine.hpp"

#include <algorithm>

#include "error.hpp"

namespace wkv {

namespace {

// Floats per sequence in a batched activation buffer: rounded up to 256 bytes, so
// every sequence's slice starts at an offset any device accepts for a binding.
uint32_t padded(uint32_t floats) { return (floats * 4 + 255) / 256 * 64; }

// Rows of the RoPE table: cache-index positions stay below a ring's slots; original
// positions run to the trained context.
uint32_t max_positions(const std::vector<CacheSettings>& sequences, uint32_t context) {
    uint32_t n = 1;
    for (const CacheSettings& s : sequences) n = std::max(n, s.positions == PositionMode::original ? context : s.policy.slots());
    return n;
}

// Floats per sequence of each activation buffer, as the constructor allocates them.
std::vector<uint32_t> activation_floats(const ModelConfig& c) {
    const uint32_t q_dim = c.n_heads * c.head_dim();
    // x, xb, q, k, v, att_out, hb, hb2, logits, logits_host
    return {c.dim, c.dim, q_dim, c.kv_dim(), c.kv_dim(), q_dim, c.hidden_dim, c.hidden_dim, c.vocab_size, c.vocab_size};
}

}  // namespace

BatchEngine::BatchEngine(Context& ctx, const GpuWeights& weights, std::vector<CacheSettings> sequences)
    : ctx_(ctx),
      w_(weights),
      c_(weights.config),
      sequences_(std::move(sequences)),
      kernels_(ctx),
      recorder_(ctx),
      x_(ctx, uint64_t{padded(c_.dim)} * 4 * sequences_.size(), Memory::device_local),
      xb_(ctx, uint64_t{padded(c_.dim)} * 4 * sequences_.size(), Memory::device_local),
      q_(ctx, uint64_t{padded(c_.n_heads * c_.head_dim())} * 4 * sequences_.size(), Memory::device_local),
      k_(ctx, uint64_t{padded(c_.kv_dim())} * 4 * sequences_.size(), Memory::device_local),
      v_(ctx, uint64_t{padded(c_.kv_dim())} * 4 * sequences_.size(), Memory::device_local),
      att_out_(ctx, uint64_t{padded(c_.n_heads * c_.head_dim())} * 4 * sequences_.size(), Memory::device_local),
      hb_(ctx, uint64_t{padded(c_.hidden_dim)} * 4 * sequences_.size(), Memory::device_local),
      hb2_(ctx, uint64_t{padded(c_.hidden_dim)} * 4 * sequences_.size(), Memory::device_local),
      logits_(ctx, uint64_t{padded(c_.vocab_size)} * 4 * sequences_.size(), Memory::device_local),
      logits_host_(ctx, uint64_t{padded(c_.vocab_size)} * 4 * sequences_.size(), Memory::host_visible),
      nll_host_(ctx, 4 * sequences_.size(), Memory::host_visible),
      rope_(ctx, uint64_t{max_positions(sequences_, c_.context)} * c_.head_dim() * 4, Memory::device_local),
      rope_positions_(max_positions(sequences_, c_.context)) {
    if (sequences_.empty()) throw std::logic_error("BatchEngine needs at least one sequence");
    if (c_.head_dim() > Kernels::kMaxHeadDim) {
        throw Error("head size " + std::to_string(c_.head_dim()) + " is above the " + std::to_string(Kernels::kMaxHeadDim) +
                        " the attention shader supports",
                    ExitCode::device);
    }
    for (const CacheSettings& s : sequences_) rings_.push_back(std::make_unique<KvCacheRing>(ctx, c_, s.policy.slots(), s.kv_type));
    state_.resize(sequences_.size());
    const std::vector<float> table = rope_table(rope_positions_, c_.head_dim(), c_.rope());
    rope_.upload(table.data(), table.size() * 4);
}

BufferRange BatchEngine::slice(const Buffer& b, uint32_t seq, uint32_t floats) const {
    return BufferRange(b, uint64_t{seq} * padded(floats) * 4, uint64_t{floats} * 4);
}

BatchEngine::BufferBytes BatchEngine::buffer_bytes(const ModelConfig& c, const std::vector<CacheSettings>& sequences) {
    BufferBytes b;
    for (uint32_t floats : activation_floats(c)) {
        const uint64_t bytes = uint64_t{padded(floats)} * 4 * sequences.size();
        b.total += bytes;
        b.largest = std::max(b.largest, bytes);
    }
    const uint64_t rope = uint64_t{max_positions(sequences, c.context)} * c.head_dim() * 4;
    b.total += 4 * sequences.size() + rope;  // the NLLs, the RoPE table
    b.largest = std::max(b.largest, rope);
    return b;
}

uint64_t BatchEngine::buffer_bytes() const {
    uint64_t total = 0;
    for (const Buffer* b : {&x_, &xb_, &q_, &k_, &v_, &att_out_, &hb_, &hb2_, &logits_, &logits_host_, &nll_host_, &rope_}) total += b->size();
    return total;
}

uint64_t BatchEngine::kv_cache_bytes() const {
    uint64_t total = 0;
    for (const auto& r : rings_) total += r->bytes();
    return total;
}

void BatchEngine::reset(uint32_t b) {
    rings_[b]->clear();
    state_[b] = {};
}

std::vector<float> BatchEngine::logits(uint32_t b) const {
    std::vector<float> out(c_.vocab_size);
    logits_host_.download(out.data(), out.size() * 4, uint64_t{b} * padded(c_.vocab_size) * 4);
    return out;
}

float BatchEngine::nll(uint32_t b) const {
    float value = 0;
    nll_host_.download(&value, 4, uint64_t{b} * 4);
    return value;
}

void BatchEngine::record_layer(uint32_t l, const std::vector<SequenceStep>& steps, const std::vector<bool>& compress) {
    const GpuLayerWeights& w = w_.layers[l];
    const uint32_t B = size(), hd = c_.head_dim(), q_dim = c_.n_heads * hd;
    const BufferRange norm_attn = w.attn_norm.chunks.front().buffer, norm_ffn = w.ffn_norm.chunks.front().buffer;
    Recorder& r = recorder_;

    kernels_.rmsnorm(r, x_, norm_attn, xb_, c_.dim, c_.rms_eps, B, padded(c_.dim));
    r.barrier();
    kernels_.matvec(r, w.wq, xb_, padded(c_.dim), q_, padded(q_dim), B, false);
    kernels_.matvec(r, w.wk, xb_, padded(c_.dim), k_, padded(c_.kv_dim()), B, false);
    kernels_.matvec(r, w.wv, xb_, padded(c_.dim), v_, padded(c_.kv_dim()), B, false);
    r.barrier();

    // Each sequence's own cache: append, attend, keep scores, compress (spec §2.3).
    for (uint32_t b = 0; b < B; b++) {
        if (!steps[b].active) continue;
        kernels_.kv_append(r, rings_[b]->layer(l), slice(k_, b, c_.kv_dim()), slice(v_, b, c_.kv_dim()), rope_, c_.n_kv_heads,
                           rings_[b]->capacity(), hd, steps[b].pos, sequences_[b].positions);
    }
    r.barrier();
    for (uint32_t b = 0; b < B; b++) {
        if (!steps[b].active) continue;
        const PositionMode positions = sequences_[b].positions;
        const uint32_t n_entries = state_[b].entries + 1;
        const uint32_t q_pos = positions == PositionMode::cache_index ? n_entries - 1 : steps[b].pos;
        kernels_.attention(r, slice(q_, b, q_dim), rings_[b]->layer(l), rope_, slice(att_out_, b, q_dim), c_.n_heads, c_.group_size(),
                           rings_[b]->capacity(), hd, n_entries, q_pos, positions);
    }
    r.barrier();
    for (uint32_t b = 0; b < B; b++) {
        if (!steps[b].active) continue;
        kernels_.score_accumulate(r, rings_[b]->layer(l), c_.n_kv_heads, c_.group_size(), rings_[b]->capacity(), state_[b].entries + 1,
                                  policy_info(sequences_[b].policy.kind).uses_head_mean);
    }
    r.barrier();
    bool any_compress = false;
    for (uint32_t b = 0; b < B; b++) {
        if (!steps[b].active || !compress[b]) continue;
        kernels_.compress(r, rings_[b]->layer(l), sequences_[b].policy, l, c_.n_kv_heads, rings_[b]->capacity(), hd, state_[b].steps);
        any_compress = true;
    }
    if (any_compress) r.barrier();

    kernels_.matvec(r, w.wo, att_out_, padded(q_dim), x_, padded(c_.dim), B, true);  // residual
    r.barrier();
    kernels_.rmsnorm(r, x_, norm_ffn, xb_, c_.dim, c_.rms_eps, B, padded(c_.dim));
    r.barrier();
    kernels_.matvec(r, w.w1, xb_, padded(c_.dim), hb_, padded(c_.hidden_dim), B, false);
    kernels_.matvec(r, w.w3, xb_, padded(c_.dim), hb2_, padded(c_.hidden_dim), B, false);
    r.barrier();
    kernels_.swiglu(r, hb_, hb2_, B * padded(c_.hidden_dim));
    r.barrier();
    kernels_.matvec(r, w.w2, hb_, padded(c_.hidden_dim), x_, padded(c_.dim), B, true);  // residual
    r.barrier();
}

void BatchEngine::step(const std::vector<SequenceStep>& steps) {
    const uint32_t B = size();
    if (steps.size() != B) throw std::logic_error("BatchEngine::step needs one entry per sequence");
    std::vector<bool> compress(B, false);
    bool any_output = false;
    for (uint32_t b = 0; b < B; b++) {
        const SequenceStep& s = steps[b];
        if (!s.active) continue;
        if (s.token < 0 || static_cast<uint32_t>(s.token) >= c_.vocab_size) {
            throw Error("token id " + std::to_string(s.token) + " is outside the vocabulary");
        }
        if (s.output == StepOutput::nll && (s.target < 0 || static_cast<uint32_t>(s.target) >= c_.vocab_size)) {
            throw Error("token id " + std::to_string(s.target) + " is outside the vocabulary");
        }
        if (state_[b].entries >= rings_[b]->capacity()) {
            throw Error("KV cache is full (" + std::to_string(rings_[b]->capacity()) + " entries per layer and head)");
        }
        if (sequences_[b].positions == PositionMode::original && s.pos >= rope_positions_) {
            throw Error("position " + std::to_string(s.pos) + " is past the model's context of " + std::to_string(rope_positions_) +
                        " (original positions; --positions cache keeps them inside it)");
        }
        const CachePolicy& p = sequences_[b].policy;
        compress[b] = p.compresses() && state_[b].entries + 1 > p.budget;
        any_output = any_output || s.output != StepOutput::none;
    }

    Recorder& r = recorder_;
    r.begin();
    for (uint32_t b = 0; b < B; b++) {
        if (steps[b].active) kernels_.embedding(r, w_.token_embedding, static_cast<uint32_t>(steps[b].token), slice(x_, b, c_.dim));
    }
    r.barrier();
    for (uint32_t l = 0; l < c_.n_layers; l++) record_layer(l, steps, compress);
    if (any_output) {
        kernels_.rmsnorm(r, x_, w_.final_norm.chunks.front().buffer, xb_, c_.dim, c_.rms_eps, B, padded(c_.dim));
        r.barrier();
        kernels_.matvec(r, w_.classifier(), xb_, padded(c_.dim), logits_, padded(c_.vocab_size), B, false);
        r.barrier();
        for (uint32_t b = 0; b < B; b++) {
            if (!steps[b].active) continue;
            if (steps[b].output == StepOutput::nll) {
                kernels_.nll(r, slice(logits_, b, c_.vocab_size), nll_host_, c_.vocab_size, static_cast<uint32_t>(steps[b].target), b);
            } else if (steps[b].output == StepOutput::logits) {
                const uint64_t offset = uint64_t{b} * padded(c_.vocab_size) * 4;
                r.copy(logits_, offset, logits_host_, offset, uint64_t{c_.vocab_size} * 4);
            }
        }
        r.host_barrier();
    }
    r.submit_and_wait();
    for (uint32_t b = 0; b < B; b++) {
        if (!steps[b].active) continue;
        state_[b].entries = compress[b] ? state_[b].entries : state_[b].entries + 1;
        state_[b].steps++;
    }
}

}  // namespace wkv
