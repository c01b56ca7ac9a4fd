#include "recorder.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "error.hpp"
#include "vk_check.hpp"

namespace wkv {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint32_t kBuffersPerPool = kSetsPerPool * 12;
constexpr uint32_t kQueries = 16384;  // timestamps per command buffer when profiling; later dispatches go untimed
}  // namespace

Recorder::Recorder(Context& ctx, uint64_t entry_bytes) : ctx_(ctx), entries_(ctx, entry_bytes, Memory::host_to_device) {
    VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool.queueFamilyIndex = ctx.queue_family();
    vk_check(vkCreateCommandPool(ctx.device(), &pool, nullptr, &pool_), "vkCreateCommandPool");
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = pool_;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    vk_check(vkAllocateCommandBuffers(ctx.device(), &alloc, &cmd_), "vkAllocateCommandBuffers");
    VkFenceCreateInfo fence{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    vk_check(vkCreateFence(ctx.device(), &fence, nullptr, &fence_), "vkCreateFence");
    add_pool();
}

Recorder::~Recorder() {
    VkDevice dev = ctx_.device();
    vkDeviceWaitIdle(dev);
    for (VkDescriptorPool p : descriptor_pools_) vkDestroyDescriptorPool(dev, p, nullptr);
    if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
    if (fence_) vkDestroyFence(dev, fence_, nullptr);
    if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
}

void Recorder::add_pool() {
    const VkDescriptorPoolSize size{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kBuffersPerPool};
    VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    info.maxSets = kSetsPerPool;
    info.poolSizeCount = 1;
    info.pPoolSizes = &size;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    vk_check(vkCreateDescriptorPool(ctx_.device(), &info, nullptr, &pool), "vkCreateDescriptorPool");
    descriptor_pools_.push_back(pool);
}

void Recorder::begin() {
    begun_ = std::chrono::steady_clock::now();
    entries_used_ = 0;
    vk_check(vkResetCommandBuffer(cmd_, 0), "vkResetCommandBuffer");
    VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    vk_check(vkBeginCommandBuffer(cmd_, &begin), "vkBeginCommandBuffer");
    if (queries_) {
        timed_.clear();
        vkCmdResetQueryPool(cmd_, queries_, 0, kQueries);
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, 0);
    }
}

uint32_t Recorder::add_entries(const void* data, uint32_t count, uint32_t entry_bytes) {
    const uint64_t first = (entries_used_ + entry_bytes - 1) / entry_bytes;
    const uint64_t end = (first + count) * entry_bytes;
    if (end > entries_.size()) {
        throw std::logic_error("a command buffer's entries need more than the recorder's " +
                               std::to_string(entries_.size()) + " bytes");
    }
    std::memcpy(static_cast<uint8_t*>(entries_.mapped()) + first * entry_bytes, data, uint64_t{count} * entry_bytes);
    entries_used_ = end;
    return static_cast<uint32_t>(first);
}

void Recorder::enable_profiling() {
    if (queries_) return;
    if (ctx_.timestamp_bits() == 0)
        throw Error("device " + quoted(ctx_.info().name) +
                    " cannot time commands (no timestamps on its compute queue)");
    VkQueryPoolCreateInfo info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    info.queryCount = kQueries;
    vk_check(vkCreateQueryPool(ctx_.device(), &info, nullptr, &queries_), "vkCreateQueryPool");
}

void Recorder::timestamp(const char* label) {
    if (!queries_ || timed_.size() + 1 >= kQueries) return;
    timed_.emplace_back(label);
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, static_cast<uint32_t>(timed_.size()));
}

std::vector<ShaderTime> Recorder::profile() const {
    std::vector<ShaderTime> out;
    for (const auto& [name, t] : totals_) out.push_back(t);
    std::sort(out.begin(), out.end(), [](const ShaderTime& a, const ShaderTime& b) { return a.seconds > b.seconds; });
    return out;
}

VkDescriptorSet Recorder::descriptor_set(const Pipeline& p, std::span<const BufferRange> buffers) {
    std::vector<uint64_t> key = {reinterpret_cast<uint64_t>(p.set_layout())};
    for (const BufferRange& b : buffers) {
        key.push_back(reinterpret_cast<uint64_t>(b.buffer->handle()));
        key.push_back(b.offset);
        key.push_back(b.size);
    }
    if (auto it = sets_.find(key); it != sets_.end()) return it->second;

    VkDescriptorSetLayout layout = p.set_layout();
    VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
    alloc.descriptorPool = descriptor_pools_.back();
    alloc.descriptorSetCount = 1;
    alloc.pSetLayouts = &layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    VkResult r = vkAllocateDescriptorSets(ctx_.device(), &alloc, &set);
    if (r == VK_ERROR_OUT_OF_POOL_MEMORY || r == VK_ERROR_FRAGMENTED_POOL) {
        add_pool();
        alloc.descriptorPool = descriptor_pools_.back();
        r = vkAllocateDescriptorSets(ctx_.device(), &alloc, &set);
    }
    vk_check(r, "vkAllocateDescriptorSets");

    std::vector<VkDescriptorBufferInfo> infos;
    for (const BufferRange& b : buffers) infos.push_back({b.buffer->handle(), b.offset, b.size});
    std::vector<VkWriteDescriptorSet> writes(infos.size());
    for (uint32_t i = 0; i < infos.size(); i++) {
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = i;
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
    sets_[key] = set;
    return set;
}

void Recorder::dispatch_raw(const Pipeline& p, std::span<const BufferRange> buffers, const void* push,
                            uint32_t push_bytes, uint32_t groups_x, uint32_t groups_y) {
    if (buffers.size() != p.n_buffers() || push_bytes != p.push_bytes()) {
        throw std::logic_error("dispatch of " + p.name() + " with " + std::to_string(buffers.size()) + " buffers and " +
                               std::to_string(push_bytes) + " push bytes does not match its layout");
    }
    const VkDescriptorSet set = descriptor_set(p, buffers);
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.handle());
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout(), 0, 1, &set, 0, nullptr);
    vkCmdPushConstants(cmd_, p.layout(), VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(cmd_, groups_x, groups_y, 1);
    counters_.dispatches++;
    timestamp(p.name().c_str());
}

void Recorder::barrier() {
    VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &b, 0,
                         nullptr, 0, nullptr);
}

void Recorder::host_barrier() {
    VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &b, 0, nullptr,
                         0, nullptr);
}

void Recorder::copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset, uint64_t bytes) {
    VkMemoryBarrier to_transfer{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    to_transfer.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    to_transfer.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &to_transfer,
                         0, nullptr, 0, nullptr);
    const VkBufferCopy region{src_offset, dst_offset, bytes};
    vkCmdCopyBuffer(cmd_, src.handle(), dst.handle(), 1, &region);
    timestamp("(copy)");
    VkMemoryBarrier to_host{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    to_host.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    to_host.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &to_host, 0, nullptr,
                         0, nullptr);
}

void Recorder::submit_and_wait() {
    vk_check(vkEndCommandBuffer(cmd_), "vkEndCommandBuffer");
    const auto recorded = std::chrono::steady_clock::now();
    ctx_.submit_and_wait(cmd_, fence_);
    counters_.submits++;
    counters_.record_seconds += std::chrono::duration<double>(recorded - begun_).count();
    counters_.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - recorded).count();
    if (!queries_ || timed_.empty()) return;
    std::vector<uint64_t> ticks(timed_.size() + 1);
    vk_check(vkGetQueryPoolResults(ctx_.device(), queries_, 0, static_cast<uint32_t>(ticks.size()), ticks.size() * 8,
                                   ticks.data(), 8, VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT),
             "vkGetQueryPoolResults");
    const uint32_t bits = ctx_.timestamp_bits();
    const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    const double seconds_per_tick = ctx_.limits().timestampPeriod * 1e-9;
    for (size_t i = 0; i < timed_.size(); i++) {
        ShaderTime& t = totals_[timed_[i]];
        t.shader = timed_[i];
        t.dispatches++;
        t.seconds += static_cast<double>(((ticks[i + 1] & mask) - (ticks[i] & mask)) & mask) * seconds_per_tick;
    }
}

}  // namespace wkv
