#include "buffer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "vk_check.hpp"

namespace wkv {

namespace {
constexpr uint64_t kStagingBytes = 64ull << 20;
}

Buffer::Buffer(Context& ctx, uint64_t bytes, Memory memory) : ctx_(&ctx), size_(std::max<uint64_t>(bytes, 4)) {
    VkBufferCreateInfo info{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    info.size = size_;
    info.usage =
        VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    info.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    vk_check(vkCreateBuffer(ctx.device(), &info, nullptr, &buffer_), "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx.device(), buffer_, &req);
    const bool host = memory != Memory::device_local;
    VkMemoryAllocateInfo alloc{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    alloc.allocationSize = req.size;
    alloc.memoryTypeIndex =
        host ? ctx.memory_type(req.memoryTypeBits,
                               VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
                               memory == Memory::host_visible ? VK_MEMORY_PROPERTY_HOST_CACHED_BIT
                                                              : VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)
             : ctx.memory_type(req.memoryTypeBits, 0, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    const VkResult r = vkAllocateMemory(ctx.device(), &alloc, nullptr, &memory_);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(ctx.device(), buffer_, nullptr);
        throw Error(
            "Vulkan: cannot allocate " + std::to_string(size_) + " bytes of device memory: " + vk_result_name(r),
            ExitCode::device);
    }
    vk_check(vkBindBufferMemory(ctx.device(), buffer_, memory_, 0), "vkBindBufferMemory");
    allocated_ = req.size;
    ctx.count_allocation(static_cast<int64_t>(allocated_));
    if (host) vk_check(vkMapMemory(ctx.device(), memory_, 0, VK_WHOLE_SIZE, 0, &mapped_), "vkMapMemory");
}

Buffer::~Buffer() {
    if (buffer_) vkDestroyBuffer(ctx_->device(), buffer_, nullptr);
    if (memory_) {
        vkFreeMemory(ctx_->device(), memory_, nullptr);  // unmaps too
        ctx_->count_allocation(-static_cast<int64_t>(allocated_));
    }
}

Buffer::Buffer(Buffer&& other) noexcept
    : ctx_(other.ctx_),
      buffer_(std::exchange(other.buffer_, VK_NULL_HANDLE)),
      memory_(std::exchange(other.memory_, VK_NULL_HANDLE)),
      size_(other.size_),
      allocated_(other.allocated_),
      mapped_(std::exchange(other.mapped_, nullptr)) {}

void Buffer::upload(const void* data, uint64_t bytes, uint64_t offset) {
    if (offset + bytes > size_) throw std::logic_error("Buffer::upload past the end");
    if (mapped_) {
        std::memcpy(static_cast<uint8_t*>(mapped_) + offset, data, bytes);
        return;
    }
    Buffer staging(*ctx_, std::min(bytes, kStagingBytes), Memory::host_visible);
    for (uint64_t done = 0; done < bytes;) {
        const uint64_t n = std::min(bytes - done, kStagingBytes);
        std::memcpy(staging.mapped(), static_cast<const uint8_t*>(data) + done, n);
        ctx_->run_once([&](VkCommandBuffer cmd) {
            const VkBufferCopy region{0, offset + done, n};
            vkCmdCopyBuffer(cmd, staging.handle(), buffer_, 1, &region);
        });
        done += n;
    }
}

void Buffer::download(void* data, uint64_t bytes, uint64_t offset) const {
    if (offset + bytes > size_) throw std::logic_error("Buffer::download past the end");
    if (mapped_) {
        std::memcpy(data, static_cast<const uint8_t*>(mapped_) + offset, bytes);
        return;
    }
    Buffer staging(*ctx_, std::min(bytes, kStagingBytes), Memory::host_visible);
    for (uint64_t done = 0; done < bytes;) {
        const uint64_t n = std::min(bytes - done, kStagingBytes);
        ctx_->run_once([&](VkCommandBuffer cmd) {
            const VkBufferCopy region{offset + done, 0, n};
            vkCmdCopyBuffer(cmd, buffer_, staging.handle(), 1, &region);
        });
        std::memcpy(static_cast<uint8_t*>(data) + done, staging.mapped(), n);
        done += n;
    }
}

}  // namespace wkv
