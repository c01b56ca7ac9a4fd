// How a model's weights lie on the device, worked out from the tensor table
// (model/tensor_roles): which tensors each layer's slots hold, made of which
// roles, stacked or apart, as vectors or matrices, reordered for NEOX RoPE or
// not. The upload (gpu_weights) makes exactly these tensors, and the memory plan
// counts exactly their bytes, so the two cannot drift apart. (RoPE's frequency
// factors are not among them: they are folded into the engine's RoPE tables.)
#pragma once

#include <array>
#include <string>
#include <vector>

#include "model.hpp"
#include "tensor_roles.hpp"

namespace wkv {

// One tensor on the device.
struct DeviceTensorSpec {
    std::string name;
    std::vector<const TensorView*> parts;  // one after another: rows of a matrix, values of a vector
    std::vector<bool> rotated;             // per part: a head's dimensions, reordered where RoPE is NEOX
    bool vector = false;                   // an f32 vector (norms, biases), else a matrix in its own type
};

struct DeviceLayout {
    // Per layer and slot, its tensors: one, or a matrix per role where they cannot be stacked.
    std::vector<std::array<std::vector<DeviceTensorSpec>, kDeviceSlots>> layers;
    DeviceTensorSpec token_embedding, final_norm;
    std::vector<DeviceTensorSpec> classifier;  // none when it is the embedding table
};

DeviceLayout device_layout(const Model& model);

// What a tensor takes on the device: its type there, its bytes, and its largest buffer once
// split into chunks of whole rows under `max_buffer_bytes` (0: unsplit).
struct DeviceFootprint {
    TensorType type;
    uint64_t bytes, largest_buffer;
};
DeviceFootprint device_footprint(const DeviceTensorSpec& spec, uint64_t max_buffer_bytes);

// Every tensor of a layout, the model's and each layer's.
std::vector<const DeviceTensorSpec*> all_specs(const DeviceLayout& layout);

}  // namespace wkv
