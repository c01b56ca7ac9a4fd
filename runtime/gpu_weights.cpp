#include "gpu_weights.hpp"

namespace wkv {

namespace {

// rmsnorm.comp reads f32 weights, so norms (f32 or f16 in files) are dequantised here.
GpuTensor upload_norm(Context& ctx, const TensorView& t) {
    std::vector<float> w(t.cols);
    dequantize_row(t, 0, w.data());
    const TensorView f32{t.name, TensorType::f32, 1, t.cols, reinterpret_cast<const uint8_t*>(w.data()), nullptr, 0};
    return upload_tensor(ctx, f32);
}

}  // namespace

uint64_t GpuWeights::bytes() const {
    uint64_t total = token_embedding.bytes() + final_norm.bytes();
    if (separate_classifier) total += separate_classifier->bytes();
    for (const GpuLayerWeights& l : layers) {
        for (const GpuTensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w1, &l.w2, &l.w3}) total += t->bytes();
    }
    return total;
}

uint64_t GpuWeights::bytes_read_per_token() const {
    const uint64_t table = token_embedding.bytes();
    return bytes() - (separate_classifier ? table : 0) + table / token_embedding.rows;
}

std::unique_ptr<GpuWeights> upload_weights(Context& ctx, const Model& model, uint64_t max_chunk_bytes) {
    auto w = std::make_unique<GpuWeights>();
    w->config = model.config;
    w->token_embedding = upload_tensor(ctx, model.token_embedding, max_chunk_bytes);
    for (const LayerWeights& l : model.layers) {
        w->layers.push_back({upload_norm(ctx, l.attn_norm), upload_tensor(ctx, l.wq, max_chunk_bytes),
                             upload_tensor(ctx, l.wk, max_chunk_bytes), upload_tensor(ctx, l.wv, max_chunk_bytes),
                             upload_tensor(ctx, l.wo, max_chunk_bytes), upload_norm(ctx, l.ffn_norm),
                             upload_tensor(ctx, l.w1, max_chunk_bytes), upload_tensor(ctx, l.w2, max_chunk_bytes),
                             upload_tensor(ctx, l.w3, max_chunk_bytes)});
    }
    w->final_norm = upload_norm(ctx, model.final_norm);
    if (model.classifier.data != model.token_embedding.data) {
        w->separate_classifier = std::make_unique<GpuTensor>(upload_tensor(ctx, model.classifier, max_chunk_bytes));
    }
    return w;
}

}  // namespace wkv
