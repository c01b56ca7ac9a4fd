// A model's weights on the device, uploaded once and shared by every engine
// that runs the model. For a NEOX-RoPE model (Qwen) the rows of Wq and Wk (and
// their biases and head norms) are reordered within each head on upload, so
// that dimensions i and i + rotated/2 become neighbours (rotated: the head's
// dimensions that RoPE turns, all but for partial rotary): the shaders then
// rotate neighbouring pairs for every model, and q.k is unchanged (the same
// reordering of both factors).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "gpu_tensor.hpp"
#include "model.hpp"
#include "tensor_roles.hpp"

namespace wkv {

// A layer's weights on the device, by slot (model/tensor_roles: DeviceSlot), as
// device_layout() lays them out: Wq, Wk and Wv stacked into one matrix, so one
// dispatch computes q, k and v into consecutive rows of one output (or each its
// own where their types differ: K-quant mixes often store Wv apart); W1 and W3
// likewise; norms, biases and head norms as f32 vectors.
struct GpuLayerWeights {
    std::array<std::vector<GpuTensor>, kDeviceSlots> slots;

    const std::vector<GpuTensor>& operator[](DeviceSlot s) const { return slots[static_cast<uint32_t>(s)]; }
    // The slot's one tensor: a vector, or a matrix of one role.
    const GpuTensor& one(DeviceSlot s) const { return (*this)[s].front(); }
};

struct GpuWeights {
    ModelConfig config;
    GpuTensor token_embedding;
    std::vector<GpuLayerWeights> layers;
    GpuTensor final_norm;
    std::unique_ptr<GpuTensor> separate_classifier;  // null when the embedding is shared

    const GpuTensor& classifier() const { return separate_classifier ? *separate_classifier : token_embedding; }
    uint64_t bytes() const;
    uint64_t bytes_read_per_token() const;  // as Model::bytes_read_per_token, in the device layout
};

// Told the bytes uploaded so far and the total, after each tensor.
using UploadProgress = std::function<void(uint64_t done, uint64_t total)>;

// max_buffer_bytes: split matrices above this (0 = DeviceInfo::max_buffer_bytes).
std::unique_ptr<GpuWeights> upload_weights(Context& ctx, const Model& model, uint64_t max_buffer_bytes = 0,
                                           const UploadProgress& progress = {});

}  // namespace wkv
