#include "device_layout.hpp"

#include <algorithm>

#include "gpu_tensor.hpp"

namespace wkv {

namespace {

DeviceTensorSpec single(const TensorView& t, bool vector) { return {t.name, {&t}, {false}, vector}; }

}  // namespace

DeviceLayout device_layout(const Model& model) {
    DeviceLayout layout;
    for (const LayerWeights& l : model.layers) {
        auto& slots = layout.layers.emplace_back();
        for (uint32_t s = 0; s < kDeviceSlots; s++) {
            DeviceTensorSpec joined;
            for (const LayerTensorRole& r : layer_tensor_roles()) {
                if (static_cast<uint32_t>(r.slot) != s || !has_role(r, model.config)) continue;
                const TensorView& t = l.*r.member;
                joined.name += (joined.name.empty() ? t.name : "+" + std::string(r.gguf_suffix));
                joined.parts.push_back(&t);
                joined.rotated.push_back(r.rotated);
                joined.vector = r.norm;
            }
            if (joined.parts.empty()) continue;
            if (joined.vector || stackable(joined.parts)) {
                slots[s].push_back(std::move(joined));
                continue;
            }
            for (size_t i = 0; i < joined.parts.size(); i++)  // (K-quant mixes often store Wv in another type)
                slots[s].push_back({joined.parts[i]->name, {joined.parts[i]}, {joined.rotated[i]}, false});
        }
    }
    layout.token_embedding = single(model.token_embedding, false);
    layout.final_norm = single(model.final_norm, true);
    if (model.classifier.data != model.token_embedding.data)
        layout.classifier.push_back(single(model.classifier, false));
    return layout;
}

DeviceFootprint device_footprint(const DeviceTensorSpec& spec, uint64_t max_buffer_bytes) {
    if (spec.vector) {
        uint64_t values = 0;
        for (const TensorView* t : spec.parts) values += t->cols;
        const uint64_t bytes = device_bytes(TensorType::f32, 1, values);
        return {TensorType::f32, bytes, bytes};
    }
    const TensorType type = device_type(spec.parts[0]->type);
    const uint64_t cols = spec.parts[0]->cols;
    uint64_t rows = 0;
    for (const TensorView* t : spec.parts) rows += t->rows;
    const uint64_t per_chunk =
        max_buffer_bytes ? std::max<uint64_t>(1, rows_per_chunk(type, cols, rows, max_buffer_bytes)) : rows;
    return {type, device_bytes(type, rows, cols), device_bytes(type, std::min(per_chunk, rows), cols)};
}

std::vector<const DeviceTensorSpec*> all_specs(const DeviceLayout& layout) {
    std::vector<const DeviceTensorSpec*> out = {&layout.token_embedding, &layout.final_norm};
    for (const DeviceTensorSpec& c : layout.classifier) out.push_back(&c);
    for (const auto& slots : layout.layers) {
        for (const auto& specs : slots) {
            for (const DeviceTensorSpec& s : specs) out.push_back(&s);
        }
    }
    return out;
}

}  // namespace wkv
