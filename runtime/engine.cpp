#include "engine.hpp"

#include <algorithm>

#include "error.hpp"

namespace wkv {

namespace {

// rmsnorm.comp reads f32 weights, so norms (f32 or f16 in files) are dequantised here.
GpuTensor upload_norm(Context& ctx, const TensorView& t) {
    std::vector<float> w(t.cols);
    dequantize_row(t, 0, w.data());
    const TensorView f32{t.name, TensorType::f32, 1, t.cols, reinterpret_cast<const uint8_t*>(w.data()), nullptr, 0};
    return upload_tensor(ctx, f32);
}

BufferRange whole(const GpuTensor& t) { return t.chunks.front().buffer; }

}  // namespace

GpuEngine::GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options)
    : ctx_(ctx),
      c_(model.config),
      settings_(settings),
      kernels_(ctx),
      recorder_(ctx),
      token_embedding_(upload_tensor(ctx, model.token_embedding, options.max_chunk_bytes)),
      final_norm_(upload_norm(ctx, model.final_norm)),
      x_(ctx, c_.dim * 4, Memory::device_local),
      xb_(ctx, c_.dim * 4, Memory::device_local),
      q_(ctx, c_.n_heads * c_.head_dim() * 4, Memory::device_local),
      k_(ctx, c_.kv_dim() * 4, Memory::device_local),
      v_(ctx, c_.kv_dim() * 4, Memory::device_local),
      att_out_(ctx, c_.n_heads * c_.head_dim() * 4, Memory::device_local),
      hb_(ctx, c_.hidden_dim * 4, Memory::device_local),
      hb2_(ctx, c_.hidden_dim * 4, Memory::device_local),
      logits_(ctx, c_.vocab_size * 4, Memory::device_local),
      logits_host_(ctx, c_.vocab_size * 4, Memory::host_visible),
      nll_host_(ctx, 4, Memory::host_visible),
      rope_(ctx, uint64_t{std::max(settings.policy.slots(), c_.context)} * c_.head_dim() * 4, Memory::device_local),
      // Cache-index positions stay below the slot count; original positions run to the model's context.
      rope_positions_(std::max(settings.policy.slots(), c_.context)),
      cache_(ctx, c_, settings.policy.slots()) {
    if (c_.head_dim() > Kernels::kMaxHeadDim) {
        throw Error("head size " + std::to_string(c_.head_dim()) + " is above the " + std::to_string(Kernels::kMaxHeadDim) +
                        " the attention shader supports",
                    ExitCode::device);
    }
    for (const LayerWeights& w : model.layers) {
        const uint64_t chunk = options.max_chunk_bytes;
        layers_.push_back({upload_norm(ctx, w.attn_norm), upload_tensor(ctx, w.wq, chunk), upload_tensor(ctx, w.wk, chunk),
                           upload_tensor(ctx, w.wv, chunk), upload_tensor(ctx, w.wo, chunk), upload_norm(ctx, w.ffn_norm),
                           upload_tensor(ctx, w.w1, chunk), upload_tensor(ctx, w.w2, chunk), upload_tensor(ctx, w.w3, chunk)});
    }
    if (model.classifier.data != model.token_embedding.data) {
        separate_classifier_ = std::make_unique<GpuTensor>(upload_tensor(ctx, model.classifier, options.max_chunk_bytes));
    }
    const std::vector<float> table = rope_table(rope_positions_, c_.head_dim(), c_.rope_theta);
    rope_.upload(table.data(), table.size() * 4);
    logits_cpu_.resize(c_.vocab_size);
}

void GpuEngine::reset() {
    cache_.clear();
    entries_ = 0;
    steps_ = 0;
}

uint64_t GpuEngine::weight_bytes() const {
    uint64_t total = token_embedding_.bytes() + final_norm_.bytes();
    if (separate_classifier_) total += separate_classifier_->bytes();
    for (const Layer& l : layers_) {
        for (const GpuTensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w1, &l.w2, &l.w3}) total += t->bytes();
    }
    return total;
}

const std::vector<float>& GpuEngine::forward(int32_t token, uint32_t pos) {
    step(token, pos, Output::logits, 0);
    logits_host_.download(logits_cpu_.data(), uint64_t{c_.vocab_size} * 4);
    return logits_cpu_;
}

void GpuEngine::feed(int32_t token, uint32_t pos) { step(token, pos, Output::none, 0); }

double GpuEngine::nll(int32_t token, uint32_t pos, int32_t target) {
    if (target < 0 || static_cast<uint32_t>(target) >= c_.vocab_size) {
        throw Error("token id " + std::to_string(target) + " is outside the vocabulary");
    }
    step(token, pos, Output::nll, target);
    float value = 0;
    nll_host_.download(&value, 4);
    return value;
}

void GpuEngine::step(int32_t token, uint32_t pos, Output output, int32_t target) {
    if (token < 0 || static_cast<uint32_t>(token) >= c_.vocab_size) {
        throw Error("token id " + std::to_string(token) + " is outside the vocabulary");
    }
    if (entries_ >= cache_.capacity()) {
        throw Error("KV cache is full (" + std::to_string(cache_.capacity()) + " entries per layer and head)");
    }
    const bool by_index = settings_.positions == PositionMode::cache_index;
    if (!by_index && pos >= rope_positions_) {
        throw Error("position " + std::to_string(pos) + " is past the model's context of " + std::to_string(rope_positions_) +
                    " (original positions; --positions cache keeps them inside it)");
    }
    const uint32_t n_entries = entries_ + 1;
    const bool compress = settings_.policy.compresses() && n_entries > settings_.policy.budget;
    const uint32_t q_pos = by_index ? n_entries - 1 : pos;
    const uint32_t hd = c_.head_dim();
    Recorder& r = recorder_;

    r.begin();
    kernels_.embedding(r, token_embedding_, static_cast<uint32_t>(token), x_);
    r.barrier();
    for (uint32_t l = 0; l < c_.n_layers; l++) {
        const Layer& w = layers_[l];
        const KvLayer& cache = cache_.layer(l);

        kernels_.rmsnorm(r, x_, whole(w.attn_norm), xb_, c_.dim, c_.rms_eps);
        r.barrier();
        kernels_.matvec(r, w.wq, xb_, q_, false);
        kernels_.matvec(r, w.wk, xb_, k_, false);
        kernels_.matvec(r, w.wv, xb_, v_, false);
        r.barrier();
        kernels_.kv_append(r, cache, k_, v_, rope_, c_.n_kv_heads, cache_.capacity(), hd, pos, !by_index);
        r.barrier();
        kernels_.attention(r, q_, cache, rope_, att_out_, c_.n_heads, c_.group_size(), cache_.capacity(), hd, n_entries, q_pos,
                           by_index);
        r.barrier();
        kernels_.score_accumulate(r, cache, c_.n_kv_heads, c_.group_size(), cache_.capacity(), n_entries);
        r.barrier();
        if (compress) {
            kernels_.compress(r, cache, settings_.policy, l, c_.n_kv_heads, cache_.capacity(), hd, steps_);
            r.barrier();
        }
        kernels_.matvec(r, w.wo, att_out_, x_, true);  // residual
        r.barrier();

        kernels_.rmsnorm(r, x_, whole(w.ffn_norm), xb_, c_.dim, c_.rms_eps);
        r.barrier();
        kernels_.matvec(r, w.w1, xb_, hb_, false);
        kernels_.matvec(r, w.w3, xb_, hb2_, false);
        r.barrier();
        kernels_.swiglu(r, hb_, hb2_, c_.hidden_dim);
        r.barrier();
        kernels_.matvec(r, w.w2, hb_, x_, true);  // residual
        r.barrier();
    }
    if (output != Output::none) {
        kernels_.rmsnorm(r, x_, whole(final_norm_), xb_, c_.dim, c_.rms_eps);
        r.barrier();
        kernels_.matvec(r, separate_classifier_ ? *separate_classifier_ : token_embedding_, xb_, logits_, false);
        if (output == Output::logits) {
            r.copy(logits_, logits_host_, uint64_t{c_.vocab_size} * 4);
        } else {
            r.barrier();
            kernels_.nll(r, logits_, nll_host_, c_.vocab_size, static_cast<uint32_t>(target), 0);
            r.host_barrier();
        }
    }
    r.submit_and_wait();

    entries_ = compress ? n_entries - 1 : n_entries;
    steps_++;
}

}  // namespace wkv
