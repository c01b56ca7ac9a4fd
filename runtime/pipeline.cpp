#include "pipeline.hpp"

#include <cstring>

#include "vk_check.hpp"

namespace wkv {

Pipeline::Pipeline(Context& ctx, std::string name, uint32_t n_buffers, uint32_t push_bytes,
                   std::vector<uint32_t> spec_constants)
    : ctx_(ctx), name_(std::move(name)), n_buffers_(n_buffers), push_bytes_(push_bytes) {
    const unsigned char* bytes = nullptr;
    size_t size = 0;
    if (!spirv_module(name_, &bytes, &size)) throw std::logic_error("no embedded shader named " + name_);
    std::vector<uint32_t> code(size / 4);
    std::memcpy(code.data(), bytes, size);
    VkDevice dev = ctx.device();

    VkShaderModuleCreateInfo module{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    module.codeSize = size;
    module.pCode = code.data();
    vk_check(vkCreateShaderModule(dev, &module, nullptr, &module_), "vkCreateShaderModule");

    std::vector<VkDescriptorSetLayoutBinding> bindings(n_buffers);
    for (uint32_t i = 0; i < n_buffers; i++) {
        bindings[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    }
    VkDescriptorSetLayoutCreateInfo set{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    set.bindingCount = n_buffers;
    set.pBindings = bindings.data();
    vk_check(vkCreateDescriptorSetLayout(dev, &set, nullptr, &set_layout_), "vkCreateDescriptorSetLayout");

    const VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    VkPipelineLayoutCreateInfo layout{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    layout.setLayoutCount = 1;
    layout.pSetLayouts = &set_layout_;
    layout.pushConstantRangeCount = push_bytes ? 1 : 0;
    layout.pPushConstantRanges = &push;
    vk_check(vkCreatePipelineLayout(dev, &layout, nullptr, &layout_), "vkCreatePipelineLayout");

    std::vector<VkSpecializationMapEntry> entries(spec_constants.size());
    for (uint32_t i = 0; i < spec_constants.size(); i++) entries[i] = {i, i * 4, 4};
    VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), spec_constants.size() * 4,
                              spec_constants.data()};
    VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    info.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    info.stage.module = module_;
    info.stage.pName = "main";
    info.stage.pSpecializationInfo = &spec;
    info.layout = layout_;
    vk_check(vkCreateComputePipelines(dev, VK_NULL_HANDLE, 1, &info, nullptr, &pipeline_), "vkCreateComputePipelines");
}

Pipeline::~Pipeline() {
    VkDevice dev = ctx_.device();
    if (pipeline_) vkDestroyPipeline(dev, pipeline_, nullptr);
    if (layout_) vkDestroyPipelineLayout(dev, layout_, nullptr);
    if (set_layout_) vkDestroyDescriptorSetLayout(dev, set_layout_, nullptr);
    if (module_) vkDestroyShaderModule(dev, module_, nullptr);
}

}  // namespace wkv
