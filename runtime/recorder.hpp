// Records one command buffer of compute dispatches with explicit barriers,
// then submits it and waits. Every dispatch is "pipeline, buffers, push
// constants, workgroups". Descriptor sets are made on first use of a
// (pipeline layout, buffer ranges) combination and reused afterwards, so a
// forward pass recorded every token allocates nothing after the first.
// Parameters too many to push (a table of per-sequence entries for one
// dispatch) go into a buffer the host writes and every such dispatch binds whole.
#pragma once

#include <vulkan/vulkan.h>

#include <chrono>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "buffer.hpp"
#include "context.hpp"
#include "engine.hpp"  // HostCounters, ShaderTime
#include "pipeline.hpp"

namespace wkv {

class Recorder {
public:
    // entry_bytes: room for the entries one command buffer adds (add_entries).
    explicit Recorder(Context& ctx, uint64_t entry_bytes = 64 * 1024);
    ~Recorder();
    Recorder(const Recorder&) = delete;
    Recorder& operator=(const Recorder&) = delete;

    void begin();
    // buffers[i] is bound at binding i.
    template <typename Push>
    void dispatch(const Pipeline& p, std::span<const BufferRange> buffers, const Push& push, uint32_t groups_x,
                  uint32_t groups_y = 1) {
        dispatch_raw(p, buffers, &push, sizeof(Push), groups_x, groups_y);
    }
    template <typename Push>
    void dispatch(const Pipeline& p, std::initializer_list<BufferRange> buffers, const Push& push, uint32_t groups_x,
                  uint32_t groups_y = 1) {
        dispatch_raw(p, std::span(buffers.begin(), buffers.size()), &push, sizeof(Push), groups_x, groups_y);
    }
    // Copies `count` entries of `entry_bytes` each into this command buffer's
    // entry buffer; returns the index of the first, counted in entries of that size.
    uint32_t add_entries(const void* data, uint32_t count, uint32_t entry_bytes);
    const Buffer& entries() const { return entries_; }
    // Makes every earlier shader write visible to every later shader.
    void barrier();
    // Makes shader writes to host-visible buffers visible to the host after submit.
    void host_barrier();
    // Copies bytes from src to dst after the shaders before it, visible to the host after submit.
    void copy(const Buffer& src, uint64_t src_offset, const Buffer& dst, uint64_t dst_offset, uint64_t bytes);
    void submit_and_wait();

    // From the next begin() on, times every dispatch with timestamp queries
    // (each dispatch's time runs from the end of the command before it).
    void enable_profiling();
    // The totals so far, the most expensive shader first.
    std::vector<ShaderTime> profile() const;
    const HostCounters& counters() const { return counters_; }

private:
    void timestamp(const char* label);  // a no-op unless profiling: it runs on every dispatch
    void dispatch_raw(const Pipeline& p, std::span<const BufferRange> buffers, const void* push, uint32_t push_bytes,
                      uint32_t groups_x, uint32_t groups_y);
    VkDescriptorSet descriptor_set(const Pipeline& p, std::span<const BufferRange> buffers);
    void add_pool();

    Context& ctx_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    std::vector<VkDescriptorPool> descriptor_pools_;
    std::map<std::vector<uint64_t>, VkDescriptorSet> sets_;

    VkQueryPool queries_ = VK_NULL_HANDLE;  // set when profiling
    std::vector<std::string> timed_;        // what ended at each timestamp after the first, this command buffer
    std::map<std::string, ShaderTime> totals_;

    Buffer entries_;             // written by the host (Memory::host_to_device)
    uint64_t entries_used_ = 0;  // bytes, this command buffer
    HostCounters counters_;
    std::chrono::steady_clock::time_point begun_;  // when the command buffer being recorded was begun
};

}  // namespace wkv
