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
        for (const GpuTensor* t : {&l.attn_norm, &l.wo, &l.ffn_norm, &l.w2}) total += t->bytes();
        for (const GpuTensor& t : l.qkv) total += t.bytes();
        for (const GpuTensor& t : l.gate_up) total += t.bytes();
    }
    return total;
}

uint64_t GpuWeights::bytes_read_per_token() const {
    const uint64_t table = token_embedding.bytes();
    return bytes() - (separate_classifier ? table : 0) + table / token_embedding.rows;
}

std::unique_ptr<GpuWeights> upload_weights(Context& ctx, const Model& model, uint64_t max_buffer_bytes,
                                           const UploadProgress& progress) {
    auto w = std::make_unique<GpuWeights>();
    w->config = model.config;
    const uint64_t total = model.weight_bytes();
    uint64_t done = 0;
    // Uploads one tensor and reports the bytes it took in the file.
    auto matrix = [&](const TensorView& t) {
        GpuTensor g = upload_tensor(ctx, t, max_buffer_bytes);
        done += tensor_bytes(t.name, t.type, t.rows, t.cols, t.group_size);
        if (progress) progress(done, total);
        return g;
    };
    // Matrices that read the same input, stacked where they can be.
    auto stacked = [&](const std::string& name, std::vector<const TensorView*> parts) {
        std::vector<GpuTensor> out;
        if (stackable(parts)) {
            out.push_back(stack_tensors(ctx, name, parts, max_buffer_bytes));
            for (const TensorView* t : parts) done += tensor_bytes(t->name, t->type, t->rows, t->cols, t->group_size);
            if (progress) progress(done, total);
        } else {
            for (const TensorView* t : parts) out.push_back(matrix(*t));
        }
        return out;
    };
    auto norm = [&](const TensorView& t) {
        GpuTensor g = upload_norm(ctx, t);
        done += tensor_bytes(t.name, t.type, t.rows, t.cols, t.group_size);
        return g;
    };
    w->token_embedding = matrix(model.token_embedding);
    for (const LayerWeights& l : model.layers) {
        GpuLayerWeights g;
        g.attn_norm = norm(l.attn_norm);
        g.qkv = stacked(l.wq.name + "+k+v", {&l.wq, &l.wk, &l.wv});
        g.wo = matrix(l.wo);
        g.ffn_norm = norm(l.ffn_norm);
        g.gate_up = stacked(l.w1.name + "+up", {&l.w1, &l.w3});
        g.w2 = matrix(l.w2);
        w->layers.push_back(std::move(g));
    }
    w->final_norm = norm(model.final_norm);
    if (model.classifier.data != model.token_embedding.data) {
        w->separate_classifier = std::make_unique<GpuTensor>(matrix(model.classifier));
    }
    if (progress) progress(total, total);
    return w;
}

}  // namespace wkv
