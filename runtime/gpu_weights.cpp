#include "gpu_weights.hpp"

#include <algorithm>

#include "device_layout.hpp"

namespace wkv {

namespace {

GpuTensor upload_vector(Context& ctx, const std::string& name, const std::vector<float>& values) {
    const TensorView f32{
        name, TensorType::f32, 1, values.size(), reinterpret_cast<const uint8_t*>(values.data()), nullptr, 0};
    return upload_tensor(ctx, f32);
}

// The source of index n of a head after NEOX's reordering: of the `rotated` first
// dimensions, neighbours 2i, 2i + 1 take dimensions i and i + rotated / 2; the rest stay.
uint64_t neox_source(uint64_t n, uint32_t head_dim, uint32_t rotated) {
    const uint64_t head = n / head_dim, i = n % head_dim;
    if (i >= rotated) return n;
    return head * head_dim + (i % 2 == 0 ? i / 2 : i / 2 + rotated / 2);
}

// A matrix with its rows reordered so (NEOX), its bytes in `storage`.
TensorView neox_rows(const TensorView& t, uint32_t head_dim, uint32_t rotated, std::vector<uint8_t>& storage) {
    const uint64_t row = tensor_bytes(t.name, t.type, 1, t.cols, t.group_size);
    storage.resize(row * t.rows);
    for (uint64_t n = 0; n < t.rows; n++) {
        std::copy_n(t.data + neox_source(n, head_dim, rotated) * row, row, storage.data() + n * row);
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

std::vector<float> neox_values(const std::vector<float>& v, uint32_t head_dim, uint32_t rotated) {
    std::vector<float> out(v.size());
    for (size_t n = 0; n < v.size(); n++) out[n] = v[neox_source(n, head_dim, rotated)];
    return out;
}

}  // namespace

uint64_t GpuWeights::bytes() const {
    uint64_t total = token_embedding.bytes() + final_norm.bytes();
    if (separate_classifier) total += separate_classifier->bytes();
    for (const GpuLayerWeights& l : layers) {
        for (const std::vector<GpuTensor>& slot : l.slots) {
            for (const GpuTensor& t : slot) total += t.bytes();
        }
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
    const bool neox = model.config.rope_style == RopeStyle::neox;
    const uint32_t hd = model.config.head_dim(), rotated = model.config.rotated_dims();
    // One tensor of the layout, and the bytes its parts took in the file reported.
    auto upload = [&](const DeviceTensorSpec& spec) {
        GpuTensor g;
        if (spec.vector) {  // rmsnorm.comp and bias_add.comp read f32 (files hold f32 or f16)
            std::vector<float> values;
            for (size_t i = 0; i < spec.parts.size(); i++) {
                const std::vector<float> part = vector_of(*spec.parts[i]);
                const std::vector<float> laid = neox && spec.rotated[i] ? neox_values(part, hd, rotated) : part;
                values.insert(values.end(), laid.begin(), laid.end());
            }
            g = upload_vector(ctx, spec.name, values);
        } else {
            std::vector<std::vector<uint8_t>> storage(spec.parts.size());  // (alive until uploaded)
            std::vector<TensorView> laid;
            for (size_t i = 0; i < spec.parts.size(); i++)
                laid.push_back(neox && spec.rotated[i] ? neox_rows(*spec.parts[i], hd, rotated, storage[i])
                                                       : *spec.parts[i]);
            std::vector<const TensorView*> parts;
            for (const TensorView& t : laid) parts.push_back(&t);
            g = stack_tensors(ctx, spec.name, parts, max_buffer_bytes);
        }
        for (const TensorView* t : spec.parts) done += tensor_bytes(t->name, t->type, t->rows, t->cols, t->group_size);
        if (progress) progress(done, total);
        return g;
    };
    const DeviceLayout layout = device_layout(model);
    w->token_embedding = upload(layout.token_embedding);
    for (const auto& slots : layout.layers) {
        GpuLayerWeights& g = w->layers.emplace_back();
        for (uint32_t s = 0; s < kDeviceSlots; s++) {
            for (const DeviceTensorSpec& spec : slots[s]) g.slots[s].push_back(upload(spec));
        }
    }
    w->final_norm = upload(layout.final_norm);
    for (const DeviceTensorSpec& spec : layout.classifier)
        w->separate_classifier = std::make_unique<GpuTensor>(upload(spec));
    if (progress) progress(total, total);
    return w;
}

}  // namespace wkv
