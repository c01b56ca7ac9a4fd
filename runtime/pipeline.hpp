// A compute pipeline built once from an embedded SPIR-V module: its
// descriptor layout (n storage buffers, bindings 0..n-1), push-constant range
// and specialisation constants (constant_id 0, 1, ... in order).
#pragma once

#include <vulkan/vulkan.h>

#include <string>
#include <string_view>
#include <vector>

#include "context.hpp"

namespace wkv {

// Defined in the generated shaders/spirv_modules.cpp.
bool spirv_module(std::string_view name, const unsigned char** bytes, size_t* size);

class Pipeline {
public:
    Pipeline(Context& ctx, std::string name, uint32_t n_buffers, uint32_t push_bytes,
             std::vector<uint32_t> spec_constants);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    const std::string& name() const { return name_; }
    VkPipeline handle() const { return pipeline_; }
    VkPipelineLayout layout() const { return layout_; }
    VkDescriptorSetLayout set_layout() const { return set_layout_; }
    uint32_t n_buffers() const { return n_buffers_; }
    uint32_t push_bytes() const { return push_bytes_; }

private:
    Context& ctx_;
    std::string name_;
    uint32_t n_buffers_;
    uint32_t push_bytes_;
    VkShaderModule module_ = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout_ = VK_NULL_HANDLE;
    VkPipelineLayout layout_ = VK_NULL_HANDLE;
    VkPipeline pipeline_ = VK_NULL_HANDLE;
};

}  // namespace wkv
