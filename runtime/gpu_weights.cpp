#include "gpu_weights.hpp"

#include <algorithm>

namespace wkv {

namespace {

// rmsnorm.comp reads f32 weights, so norms (f32 or f16 in files) are dequantised here.
GpuTensor upload_norm(Context& ctx, const TensorView& t) {
    std::vector<float> w(t.cols);
    dequantize_row(t, 0, w.data());
    const TensorView f32{t.name, TensorType::f32, 1, t.cols, reinterpret_cast<const uint8_t*>(w.data()), nullptr, 0};
    return upload_tensor(ctx, f32);
}

GpuTensor upload_vector(Context& ctx, const std::string& name, const std::vector<float>& values) {
    const TensorView f32{
        name, TensorType::f32, 1, values.size(), reinterpret_cast<const uint8_t*>(values.data()), nullptr, 0};
    return upload_tensor(ctx, f32);
}

// The source of index n of a head after NEOX's reordering: neighbours 2i, 2i + 1
// take dimensions i and i + head_dim / 2.
uint64_t neox_source(uint64_t n, uint32_t head_dim) {
    const uint64_t head = n / head_dim, i = n % head_dim;
    return head * head_dim + (i % 2 == 0 ? i / 2 : i / 2 + head_dim / 2);
}

// A matrix with its rows reordered so (NEOX), its bytes in `storage`.
TensorView neox_rows(const TensorView& t, uint32_t head_dim, std::vector<uint8_t>& storage) {
    const uint64_t row = tensor_bytes(t.name, t.type, 1, t.cols, t.group_size);
    storage.resize(row * t.rows);
    for (uint64_t n = 0; n < t.rows; n++) {
        std::copy_n(t.data + neox_source(n, head_dim) * row, row, storage.data() + n * row);
    }
    TensorView out = t;
    out.data = storage.data();
    return out;
}

std::vector<float> vector_of(const TensorView& t) {
    std::vector<float> v(t.cols);
    dequantize_row(t, 0, v.data());
    return v;
}

std::vector<float> neox_values(const std::vector<float>& v, uint32_t head_dim) {
    std::vector<float> out(v.size());
    for (size_t n = 0; n < v.size(); n++) out[n] = v[neox_source(n, head_dim)];
    return out;
}

}  // namespace

uint64_t GpuWeights::bytes() const {
    uint64_t total = token_embedding.bytes() + final_norm.bytes();
    if (separate_classifier) total += separate_classifier->bytes();
    for (const GpuLayerWeights& l : layers) {
        for (const GpuTensor* t : {&l.attn_norm, &l.wo, &l.ffn_norm, &l.w2, &l.qkv_bias, &l.q_norm, &l.k_norm})
            total += t->bytes();
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
    const ModelConfig& c = model.config;
    const bool neox = c.rope_style == RopeStyle::neox;
    const uint32_t hd = c.head_dim();
    // A vector as the shaders read it: f32, reordered like its matrix's rows where RoPE is NEOX.
    auto vector = [&](const TensorView& t, bool rotated) {
        std::vector<float> v = vector_of(t);
        done += tensor_bytes(t.name, t.type, t.rows, t.cols, t.group_size);
        return neox && rotated ? neox_values(v, hd) : v;
    };
    w->token_embedding = matrix(model.token_embedding);
    for (const LayerWeights& l : model.layers) {
        GpuLayerWeights g;
        g.attn_norm = norm(l.attn_norm);
        std::vector<uint8_t> wq_rows, wk_rows;  // (alive until uploaded)
        const TensorView wq = neox ? neox_rows(l.wq, hd, wq_rows) : l.wq;
        const TensorView wk = neox ? neox_rows(l.wk, hd, wk_rows) : l.wk;
        g.qkv = stacked(l.wq.name + "+k+v", {&wq, &wk, &l.wv});
        if (c.qkv_bias) {
            std::vector<float> bias = vector(l.bq, true);
            for (const auto& [t, rotated] : {std::pair{&l.bk, true}, std::pair{&l.bv, false}}) {
                const std::vector<float> part = vector(*t, rotated);
                bias.insert(bias.end(), part.begin(), part.end());
            }
            g.qkv_bias = upload_vector(ctx, l.bq.name + "+k+v", bias);
        }
        if (c.qk_norm) {
            g.q_norm = upload_vector(ctx, l.q_norm.name, vector(l.q_norm, true));
            g.k_norm = upload_vector(ctx, l.k_norm.name, vector(l.k_norm, true));
        }
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
