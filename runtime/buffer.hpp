// A VkBuffer with its own memory (RAII).
#pragma once

#include <vulkan/vulkan.h>

#include <cstdint>

#include "context.hpp"

namespace wkv {

// device_local: weights, activations, the cache. host_visible: what the host
// reads back (cached memory where there is some). host_to_device: small data the
// host writes for shaders to read (device-local and mappable where a GPU offers
// it, so shaders do not read across the bus).
enum class Memory { device_local, host_visible, host_to_device };

class Buffer {
public:
    Buffer(Context& ctx, uint64_t bytes, Memory memory);
    ~Buffer();
    Buffer(Buffer&& other) noexcept;
    Buffer& operator=(Buffer&&) = delete;
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    VkBuffer handle() const { return buffer_; }
    uint64_t size() const { return size_; }
    void* mapped() const { return mapped_; }  // null unless host-visible

    // Copies host data in (through a staging buffer when the memory is not mappable).
    void upload(const void* data, uint64_t bytes, uint64_t offset = 0);
    void download(void* data, uint64_t bytes, uint64_t offset = 0) const;

private:
    Context* ctx_;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    VkDeviceMemory memory_ = VK_NULL_HANDLE;
    uint64_t size_ = 0;
    uint64_t allocated_ = 0;  // the allocation's size, counted in Context::device_bytes_allocated
    void* mapped_ = nullptr;
};

// A part of a buffer as one shader binding sees it.
struct BufferRange {
    const Buffer* buffer = nullptr;
    uint64_t offset = 0;
    uint64_t size = VK_WHOLE_SIZE;

    BufferRange() = default;
    BufferRange(const Buffer& b) : buffer(&b) {}  // NOLINT: a whole buffer is a range
    BufferRange(const Buffer& b, uint64_t offset_bytes, uint64_t size_bytes)
        : buffer(&b), offset(offset_bytes), size(size_bytes) {}
};

}  // namespace wkv
