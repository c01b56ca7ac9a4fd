#include "batch_engine.hpp"

#include <algorithm>

#include "error.hpp"
#include "push_constants.hpp"

namespace wkv {

namespace {

// Floats per sequence in a batched activation buffer: rounded up to 256 bytes, so
// every sequence's slice starts at an offset any device accepts for a binding.
uint32_t padded(uint32_t floats) { return (floats * 4 + 255) / 256 * 64; }

// Rows of the RoPE table: the most positions a sequence holds.
uint32_t max_positions(const std::vector<CacheSettings>& sequences, const ModelConfig& c) {
    uint32_t n = 1;
    for (const CacheSettings& s : sequences) n = std::max(n, s.positions_held(c));
    return n;
}

// The entries a layer of this policy holds after `steps` tokens: every one, or at most its budget.
uint32_t entries_after(const CachePolicy& p, uint32_t steps) {
    return p.compresses() ? std::min(steps, p.budget) : steps;
}

// Whether a layer of this policy compresses at the token after `steps` others.
bool layer_compresses(const CachePolicy& p, uint32_t steps) {
    return p.compresses() && entries_after(p, steps) + 1 > p.budget;
}

uint32_t qkv_floats(const ModelConfig& c) { return c.n_heads * c.head_dim() + 2 * c.kv_dim(); }

// The distinct RoPEs of a plan's layers, and which each layer uses: a table each on the device.
std::vector<RopeParams> distinct_ropes(const ModelPlan& plan, std::vector<uint32_t>* layer_rope = nullptr) {
    std::vector<RopeParams> ropes;
    for (const LayerPlan& layer : plan.layers) {
        auto it = std::find(ropes.begin(), ropes.end(), layer.rope);
        if (it == ropes.end()) it = ropes.insert(ropes.end(), layer.rope);
        if (layer_rope) layer_rope->push_back(static_cast<uint32_t>(it - ropes.begin()));
    }
    return ropes;
}

// Floats per row of each activation buffer, as the constructor allocates them:
// x, xb, qkv, att_out, gate_up (a row per sequence, or per token of a prompt chunk).
std::vector<uint32_t> row_floats(const ModelConfig& c) {
    return {c.dim, c.dim, qkv_floats(c), c.n_heads * c.head_dim(), 2 * c.hidden_dim};
}

uint32_t activation_rows(size_t sequences, uint32_t max_chunk) {
    return std::max<uint32_t>(static_cast<uint32_t>(sequences), max_chunk);
}

// The attention probabilities of a prompt chunk, every token's (none without chunks).
uint64_t chunk_probs_bytes(const ModelConfig& c, const std::vector<CacheSettings>& sequences, uint32_t max_chunk) {
    if (max_chunk <= 1) return 4;  // (a buffer is never empty)
    uint32_t slots = 1;
    for (const CacheSettings& s : sequences) {
        for (uint32_t layer_slots : s.layer_slots(c)) slots = std::max(slots, layer_slots);
    }
    return uint64_t{activation_rows(sequences.size(), max_chunk)} * c.n_heads * slots * 4;
}

// Room for the cache kernels' entries of one command buffer (Recorder::add_entries):
// per layer and wave, an entry per group of KV heads for each of append,
// attention, scores and compression, at most doubled by rounding each dispatch's
// first entry up. A step is one wave over every sequence's groups (all_groups),
// a prompt chunk at most a wave per token over one sequence's (at most most_groups).
uint64_t entry_bytes(const ModelConfig& c, uint64_t all_groups, uint64_t most_groups, uint32_t max_chunk) {
    const uint64_t per_layer = std::max(all_groups, uint64_t{max_chunk} * most_groups);
    return 2 * 4 * per_layer * c.n_layers * sizeof(push::CacheEntry);
}

// The same for the engine's sequences, as their rings split on this device.
uint64_t entry_bytes(Context& ctx, const ModelConfig& c, const std::vector<CacheSettings>& sequences,
                     uint32_t max_chunk, uint64_t max_buffer_bytes) {
    const uint64_t limit = max_buffer_bytes ? max_buffer_bytes : ctx.info().max_buffer_bytes();
    uint64_t all_groups = 0, most_groups = 0;
    for (const CacheSettings& s : sequences) {
        const uint64_t g = KvCacheRing::groups_for(c, s.layer_slots(c), s.kv_type, limit);
        all_groups += g;
        most_groups = std::max(most_groups, g);
    }
    return entry_bytes(c, all_groups, most_groups, max_chunk);
}

}  // namespace

BatchEngine::BatchEngine(Context& ctx, std::shared_ptr<const GpuWeights> weights, std::vector<CacheSettings> sequences,
                         uint32_t max_chunk, uint64_t max_buffer_bytes)
    : ctx_(ctx),
      w_(std::move(weights)),
      c_(w_->config),
      plan_(model_plan(c_, max_positions(sequences, c_))),
      sequences_(std::move(sequences)),
      rows_(activation_rows(sequences_.size(), max_chunk)),
      attend_in_chunks_(max_chunk > 1),
      kernels_(ctx),
      recorder_(ctx, entry_bytes(ctx, c_, sequences_, rows_, max_buffer_bytes)),
      x_(ctx, uint64_t{padded(c_.dim)} * 4 * rows_, Memory::device_local),
      xb_(ctx, uint64_t{padded(c_.dim)} * 4 * rows_, Memory::device_local),
      qkv_(ctx, uint64_t{padded(qkv_floats(c_))} * 4 * rows_, Memory::device_local),
      att_out_(ctx, uint64_t{padded(c_.n_heads * c_.head_dim())} * 4 * rows_, Memory::device_local),
      gate_up_(ctx, uint64_t{padded(2 * c_.hidden_dim)} * 4 * rows_, Memory::device_local),
      logits_(ctx, uint64_t{padded(c_.vocab_size)} * 4 * sequences_.size(), Memory::device_local),
      logits_host_(ctx, uint64_t{padded(c_.vocab_size)} * 4 * sequences_.size(), Memory::host_visible),
      nll_host_(ctx, 4 * sequences_.size(), Memory::host_visible),
      tokens_host_(ctx, 4 * sequences_.size(), Memory::host_visible),
      chunk_probs_(ctx, chunk_probs_bytes(c_, sequences_, max_chunk), Memory::device_local) {
    if (sequences_.empty()) throw std::logic_error("BatchEngine needs at least one sequence");
    if (c_.head_dim() > Kernels::kMaxHeadDim) {
        throw Error("head size " + std::to_string(c_.head_dim()) + " is above the " +
                        std::to_string(Kernels::kMaxHeadDim) + " the attention shader supports",
                    ExitCode::device);
    }
    std::vector<RingShape> shapes;
    for (const CacheSettings& s : sequences_) {
        shapes.push_back({s.layer_slots(c_), s.kv_type});
        layer_policies_.emplace_back();
        for (uint32_t l = 0; l < c_.n_layers; l++) layer_policies_.back().push_back(s.layer(c_, l));
    }
    rings_ = KvCacheRing::batch(ctx, c_, shapes, max_buffer_bytes);
    state_.resize(sequences_.size());
    const uint32_t positions = max_positions(sequences_, c_);
    for (const RopeParams& rope : distinct_ropes(plan_, &layer_rope_)) {
        const std::vector<float> table = rope_table(positions, c_.head_dim(), rope);
        rope_tables_.emplace_back(ctx, table.size() * 4, Memory::device_local);
        rope_tables_.back().upload(table.data(), table.size() * 4);
    }
}

BufferRange BatchEngine::slice(const Buffer& b, uint32_t seq, uint32_t floats) const {
    return BufferRange(b, uint64_t{seq} * padded(floats) * 4, uint64_t{floats} * 4);
}

BatchEngine::BufferBytes BatchEngine::buffer_bytes(const ModelConfig& c, const std::vector<CacheSettings>& sequences,
                                                   uint32_t max_chunk) {
    BufferBytes b;
    auto add = [&](uint64_t bytes) {
        b.total += bytes;
        b.largest = std::max(b.largest, bytes);
    };
    for (uint32_t floats : row_floats(c))
        add(uint64_t{padded(floats)} * 4 * activation_rows(sequences.size(), max_chunk));
    for (int i = 0; i < 2; i++)
        add(uint64_t{padded(c.vocab_size)} * 4 * sequences.size());  // logits on the device, for the host
    add(chunk_probs_bytes(c, sequences, max_chunk));
    const uint64_t rope = uint64_t{max_positions(sequences, c)} * c.head_dim() * 4;
    const uint64_t tables = distinct_ropes(model_plan(c, max_positions(sequences, c))).size();
    b.total += 2 * 4 * sequences.size() + tables * rope;  // the NLLs, the tokens, the RoPE tables
    b.total += entry_bytes(c, sequences.size(), 1, activation_rows(sequences.size(), max_chunk));  // (caches not split)
    b.largest = std::max(b.largest, rope);
    return b;
}

uint64_t BatchEngine::buffer_bytes() const {
    uint64_t total = 0;
    for (const Buffer* b :
         {&x_, &xb_, &qkv_, &att_out_, &gate_up_, &logits_, &logits_host_, &nll_host_, &tokens_host_, &chunk_probs_}) {
        total += b->size();
    }
    for (const Buffer& b : rope_tables_) total += b.size();
    total += recorder_.entries().size();
    return total;
}

uint64_t BatchEngine::kv_cache_bytes() const {
    uint64_t total = 0;
    for (const auto& r : rings_) total += r->bytes();
    return total;
}

uint64_t BatchEngine::kv_bytes_held(uint32_t b) const {
    uint64_t entries = 0;
    for (const CachePolicy& p : layer_policies_[b]) entries += entries_after(p, state_[b].steps);
    return entries * kv_layer_entry_bytes(c_, sequences_[b].kv_type);
}

std::string BatchEngine::device_name() const { return ctx_.info().name; }

void BatchEngine::reset(uint32_t b) {
    rings_[b]->clear();
    state_[b] = {};
}

std::vector<float> BatchEngine::logits(uint32_t b) const {
    std::vector<float> out(c_.vocab_size);
    logits_host_.download(out.data(), out.size() * 4, uint64_t{b} * padded(c_.vocab_size) * 4);
    return out;
}

int32_t BatchEngine::token(uint32_t b) const {
    uint32_t value = 0;
    tokens_host_.download(&value, 4, uint64_t{b} * 4);
    return static_cast<int32_t>(value);
}

double BatchEngine::nll(uint32_t b) const {
    float value = 0;
    nll_host_.download(&value, 4, uint64_t{b} * 4);
    return value;
}

BatchEngine::CacheWork BatchEngine::plan_token(uint32_t row, uint32_t b, const SequenceStep& step) {
    check_step(c_, sequences_[b], state_[b].entries, step);
    CacheWork w;
    w.row = row;
    w.seq = b;
    w.pos = step.pos;
    w.step = state_[b].steps;
    // The sequence as it stands after this token.
    state_[b].entries = entries_after(sequences_[b].policy, w.step + 1);
    state_[b].steps++;
    return w;
}

void BatchEngine::record_layer(uint32_t l, uint32_t rows, const std::vector<std::vector<CacheWork>>& waves) {
    const GpuLayerWeights& w = w_->layers[l];
    const LayerPlan& p = plan_.layers[l];
    const Buffer& rope = rope_tables_[layer_rope_[l]];
    const uint32_t hd = c_.head_dim(), q_dim = c_.n_heads * hd, qkv_dim = qkv_floats(c_),
                   gate_up_dim = 2 * c_.hidden_dim;
    const BufferRange norm_attn = w.one(DeviceSlot::attn_norm).chunks.front().buffer,
                      norm_ffn = w.one(DeviceSlot::ffn_norm).chunks.front().buffer;
    Recorder& r = recorder_;
    // Matrices stacked on upload, or apart: either way each writes its rows of one output.
    auto project = [&](const std::vector<GpuTensor>& parts, const Buffer& out, uint32_t out_floats) {
        uint32_t first = 0;
        for (const GpuTensor& t : parts) {
            kernels_.matvec(r, t, xb_, padded(c_.dim), out, padded(out_floats), rows, false, first);
            first += t.rows;
        }
    };

    kernels_.rmsnorm(r, x_, norm_attn, xb_, c_.dim, c_.rms_eps, rows, padded(c_.dim));
    r.barrier();
    project(w[DeviceSlot::qkv], qkv_, qkv_dim);  // each row: q, then k, then v
    r.barrier();
    if (p.qkv_bias) {
        kernels_.bias_add(r, qkv_, w.one(DeviceSlot::qkv_bias).chunks.front().buffer, qkv_dim, rows, padded(qkv_dim));
        r.barrier();
    }
    if (p.qk_norm) {  // each head of q and k normed on its own, before RoPE (in attention and kv_append)
        kernels_.head_rmsnorm(r, qkv_, w.one(DeviceSlot::q_norm).chunks.front().buffer, hd, c_.rms_eps, c_.n_heads,
                              rows, padded(qkv_dim), 0);
        r.barrier();  // (the two touch apart parts of one buffer, but a barrier is per buffer)
        kernels_.head_rmsnorm(r, qkv_, w.one(DeviceSlot::k_norm).chunks.front().buffer, hd, c_.rms_eps, c_.n_kv_heads,
                              rows, padded(qkv_dim), q_dim);
        r.barrier();
    }

    // Each token's cache work in order (spec §2.3): append, attend, keep scores,
    // compress. A wave touches each sequence's cache at most once, so each of
    // its kernels is one dispatch for every sequence in it (the rings share buffers).
    for (const std::vector<CacheWork>& wave : waves) {
        std::vector<CacheTask> tasks, compressing;
        for (const CacheWork& t : wave) {
            const CacheSettings& s = sequences_[t.seq];
            const CachePolicy& policy = layer_policies_[t.seq][l];
            push::CacheEntry e{};
            e.n_entries = entries_after(policy, t.step) + 1;
            e.pos = t.pos;
            e.q_pos = s.positions == PositionMode::cache_index ? e.n_entries - 1 : t.pos;
            e.positions = static_cast<uint32_t>(s.positions);
            e.q_first = t.row * padded(qkv_dim);  // each row of qkv_: q, then k, then v
            e.k_first = e.q_first + q_dim;
            e.v_first = e.k_first + c_.kv_dim();
            e.out_first = t.row * padded(q_dim);
            e.step = t.step;
            e.head_mean = policy_info(policy.kind).uses_head_mean ? 1 : 0;
            e.tokens = t.tokens;
            const uint32_t capacity = rings_[t.seq]->capacity(l);
            for (CacheTask& task : cache_tasks(rings_[t.seq]->layer(l), capacity, e, &policy)) {
                if (t.tokens > 1) {  // the chunk's probabilities: [token][layer's query head][capacity]
                    task.chunk_probs = &chunk_probs_;
                    task.entry.probs = task.group->first_head * c_.group_size() * capacity;
                    task.entry.probs_stride = c_.n_heads * capacity;
                }
                tasks.push_back(task);
                if (layer_compresses(policy, t.step)) compressing.push_back(task);
            }
        }
        kernels_.kv_append(r, tasks, qkv_, qkv_, rope, hd, padded(qkv_dim));
        r.barrier();
        kernels_.attention(r, tasks, qkv_, rope, att_out_, c_.group_size(), hd, static_cast<float>(p.attention_scale),
                           padded(qkv_dim), padded(q_dim));
        r.barrier();
        kernels_.score_accumulate(r, tasks, c_.group_size(), c_.n_heads);
        r.barrier();
        if (!compressing.empty()) {
            kernels_.compress(r, compressing, l, hd);
            r.barrier();
        }
    }

    // A block's output joins the residual stream: added by its last matvec, or,
    // with a post-norm, written apart and added by the norm.
    auto residual_add = [&](const GpuTensor& out_proj, const Buffer& in, uint32_t in_floats, DeviceSlot post_norm) {
        if (!p.post_norms) {
            kernels_.matvec(r, out_proj, in, padded(in_floats), x_, padded(c_.dim), rows, true, 0, p.residual_scale);
            r.barrier();
            return;
        }
        kernels_.matvec(r, out_proj, in, padded(in_floats), xb_, padded(c_.dim), rows, false);
        r.barrier();
        kernels_.rmsnorm(r, xb_, w.one(post_norm).chunks.front().buffer, x_, c_.dim, c_.rms_eps, rows, padded(c_.dim),
                         p.residual_scale);
        r.barrier();
    };
    residual_add(w.one(DeviceSlot::wo), att_out_, q_dim, DeviceSlot::post_attn_norm);
    kernels_.rmsnorm(r, x_, norm_ffn, xb_, c_.dim, c_.rms_eps, rows, padded(c_.dim));
    r.barrier();
    project(w[DeviceSlot::gate_up], gate_up_, gate_up_dim);  // each row: gate, then up
    r.barrier();
    kernels_.swiglu(r, gate_up_, c_.hidden_dim, padded(gate_up_dim), rows, p.activation);
    r.barrier();
    residual_add(w.one(DeviceSlot::w2), gate_up_, gate_up_dim, DeviceSlot::post_ffn_norm);
}

std::vector<std::vector<BatchEngine::CacheWork>> BatchEngine::layer_waves(uint32_t l,
                                                                          const std::vector<CacheWork>& work) const {
    std::vector<std::vector<CacheWork>> waves;
    for (const CacheWork& w : work) {
        const CachePolicy& p = layer_policies_[w.seq][l];
        CacheWork* run = waves.empty() ? nullptr : &waves.back().front();
        if (run && attend_in_chunks_ && !layer_compresses(p, w.step) && !layer_compresses(p, run->step)) {
            run->tokens++;
        } else {
            waves.push_back({w});
        }
    }
    return waves;
}

void BatchEngine::record_tokens(uint32_t rows, const std::vector<int32_t>& row_tokens,
                                const std::vector<CacheWork>& work, bool chunk) {
    Recorder& r = recorder_;
    for (uint32_t row = 0; row < rows; row++) {
        if (row_tokens[row] >= 0)
            kernels_.embedding(r, w_->token_embedding, static_cast<uint32_t>(row_tokens[row]), slice(x_, row, c_.dim),
                               plan_.embedding_scale);
    }
    r.barrier();
    const std::vector<std::vector<CacheWork>> one_wave = {work};  // a step: each sequence's one token
    for (uint32_t l = 0; l < c_.n_layers; l++) record_layer(l, rows, chunk ? layer_waves(l, work) : one_wave);
}

void BatchEngine::step(std::span<const SequenceStep> steps) {
    const uint32_t B = size();
    if (steps.size() != B) throw std::logic_error("BatchEngine::step needs one entry per sequence");
    // One token per active sequence, in row b: one wave of cache work in every layer.
    const std::vector<SequenceState> before = state_;
    std::vector<CacheWork> work;
    std::vector<int32_t> row_tokens(B, -1);
    bool any_output = false;
    try {
        for (uint32_t b = 0; b < B; b++) {
            const SequenceStep& s = steps[b];
            if (!s.active) continue;
            work.push_back(plan_token(b, b, s));
            row_tokens[b] = s.token;
            any_output = any_output || s.output != StepOutput::none;
        }
    } catch (...) {
        state_ = before;  // nothing was recorded
        throw;
    }

    Recorder& r = recorder_;
    r.begin();
    record_tokens(B, row_tokens, work, false);
    if (any_output) {
        kernels_.rmsnorm(r, x_, w_->final_norm.chunks.front().buffer, xb_, c_.dim, c_.rms_eps, B, padded(c_.dim));
        r.barrier();
        kernels_.matvec(r, w_->classifier(), xb_, padded(c_.dim), logits_, padded(c_.vocab_size), B, false, 0,
                        1.0f / plan_.logit_scale);
        r.barrier();
        if (plan_.logit_softcap > 0.0f) {
            kernels_.softcap(r, logits_, c_.vocab_size, padded(c_.vocab_size), B, plan_.logit_softcap);
            r.barrier();
        }
        const bool any_token = std::any_of(steps.begin(), steps.end(), [](const SequenceStep& s) {
            return s.active && s.output == StepOutput::token;
        });
        if (any_token)
            kernels_.argmax(r, logits_, c_.vocab_size, padded(c_.vocab_size), B,
                            tokens_host_);  // one dispatch for all rows
        for (uint32_t b = 0; b < B; b++) {
            if (!steps[b].active) continue;
            if (steps[b].output == StepOutput::nll) {
                kernels_.nll(r, slice(logits_, b, c_.vocab_size), nll_host_, c_.vocab_size,
                             static_cast<uint32_t>(steps[b].target), b);
            } else if (steps[b].output == StepOutput::logits) {
                const uint64_t offset = uint64_t{b} * padded(c_.vocab_size) * 4;
                r.copy(logits_, offset, logits_host_, offset, uint64_t{c_.vocab_size} * 4);
            }
        }
        r.host_barrier();
    }
    r.submit_and_wait();
}

void BatchEngine::prefill(uint32_t b, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) {
    check_prefill(c_, sequences_.at(b), state_[b].entries, tokens, first_pos);  // nothing moves on a bad token
    for (size_t done = 0; done < tokens.size(); done += rows_) {
        const size_t n = std::min<size_t>(rows_, tokens.size() - done);
        run_chunk(b, tokens.subspan(done, n), first_pos + static_cast<uint32_t>(done),
                  logits && done + n == tokens.size());
    }
}

void BatchEngine::run_chunk(uint32_t b, std::span<const int32_t> tokens, uint32_t first_pos, bool logits) {
    // Token t of the chunk in row t. In each layer, the tokens its cache takes
    // without evicting form one wave of cache work (appended together, then
    // attending causally); each token that compresses is a wave of its own, in
    // order, as token-by-token steps would do it (layer_waves). The matrices read
    // their weights once for the whole chunk, and a batched matvec equals single
    // ones bit for bit, so the result is that of feeding the tokens one at a time, exactly.
    const uint32_t n = static_cast<uint32_t>(tokens.size());
    const std::vector<SequenceState> before = state_;
    std::vector<CacheWork> work;
    try {
        for (uint32_t t = 0; t < n; t++)
            work.push_back(plan_token(t, b, {true, tokens[t], first_pos + t, StepOutput::none, 0}));
    } catch (...) {
        state_ = before;
        throw;
    }
    Recorder& r = recorder_;
    r.begin();
    record_tokens(n, std::vector<int32_t>(tokens.begin(), tokens.end()), work, true);
    if (logits) {
        // The last token's logits, in the sequence's row of the logits buffers.
        kernels_.rmsnorm(r, slice(x_, n - 1, c_.dim), w_->final_norm.chunks.front().buffer, slice(xb_, n - 1, c_.dim),
                         c_.dim, c_.rms_eps);
        r.barrier();
        kernels_.matvec(r, w_->classifier(), slice(xb_, n - 1, c_.dim), slice(logits_, b, c_.vocab_size), false,
                        1.0f / plan_.logit_scale);
        if (plan_.logit_softcap > 0.0f) {
            r.barrier();
            kernels_.softcap(r, slice(logits_, b, c_.vocab_size), c_.vocab_size, 0, 1, plan_.logit_softcap);
        }
        const uint64_t offset = uint64_t{b} * padded(c_.vocab_size) * 4;
        r.copy(logits_, offset, logits_host_, offset, uint64_t{c_.vocab_size} * 4);
        r.host_barrier();
    }
    r.submit_and_wait();
}

}  // namespace wkv
