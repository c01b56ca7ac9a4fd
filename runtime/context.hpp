// The Vulkan instance, the chosen physical device, its logical device and one
// compute queue. Optionally runs with the Khronos validation layer, collecting
// every warning and error it reports so tests can fail on any.
#pragma once

#include <vulkan/vulkan.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "device_info.hpp"

namespace wkv {

struct ContextOptions {
    std::optional<uint32_t> device_index;  // default: the first discrete GPU, else integrated, else any
    bool validation = false;               // also on when WKV_VALIDATION=1
};

// Whether the Khronos validation layer is installed.
bool validation_layer_available();

// Every Vulkan device, for `wkv devices`. Throws (exit code 3) when there is no Vulkan at all.
std::vector<DeviceInfo> list_devices();
// The device a Context made with `options` would run on, without making one
// (to plan a run's memory before anything is allocated).
DeviceInfo describe_chosen_device(const ContextOptions& options);

class Context {
public:
    explicit Context(const ContextOptions& options = {});
    ~Context();
    Context(const Context&) = delete;
    Context& operator=(const Context&) = delete;

    VkDevice device() const { return device_; }
    VkPhysicalDevice physical_device() const { return physical_; }
    VkQueue queue() const { return queue_; }
    uint32_t queue_family() const { return queue_family_; }
    uint32_t timestamp_bits() const { return timestamp_bits_; }  // 0: the queue cannot time commands
    const DeviceInfo& info() const { return info_; }
    const VkPhysicalDeviceLimits& limits() const { return limits_; }

    // A memory type with all `required` flags, preferring one that also has `preferred`.
    uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;

    // Records with `record`, submits and waits (for uploads and downloads).
    void run_once(const std::function<void(VkCommandBuffer)>& record);
    // Submits and waits with a time limit, so a hung device becomes an error, not a hang.
    void submit_and_wait(VkCommandBuffer cmd, VkFence fence);

    // Device memory wkv holds right now (every Buffer's allocation), for memory
    // reports that must stay flat over a long run.
    uint64_t device_bytes_allocated() const { return device_bytes_.load(); }
    void count_allocation(int64_t bytes) { device_bytes_ += static_cast<uint64_t>(bytes); }

    bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }
    std::vector<std::string> validation_messages() const;

private:
    void release();  // destroys whatever was created; safe to call twice
    static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                                VkDebugUtilsMessageTypeFlagsEXT,
                                                                const VkDebugUtilsMessengerCallbackDataEXT*, void*);

    VkInstance instance_ = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t queue_family_ = 0;
    uint32_t timestamp_bits_ = 0;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    DeviceInfo info_;
    VkPhysicalDeviceLimits limits_{};
    VkPhysicalDeviceMemoryProperties memory_{};

    std::atomic<uint64_t> device_bytes_{0};
    mutable std::mutex messages_mutex_;
    std::vector<std::string> messages_;
};

}  // namespace wkv
