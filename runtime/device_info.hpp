// What wkv needs to know of a Vulkan device (name, driver, subgroups, memory,
// the limits the memory plan holds a run against), read from the device, and
// the WKV_* variables that lower those limits for tests.
#pragma once

#include <vulkan/vulkan.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace wkv {

struct DeviceInfo {
    uint32_t index = 0;
    std::string name;
    std::string type;    // "discrete GPU", "integrated GPU", "CPU", ...
    std::string driver;  // driver name and version
    std::string api_version;
    std::vector<std::string> heaps;  // "16.0 GiB device-local"
    uint32_t subgroup_size = 0;
    bool subgroup_arithmetic = false;  // subgroupAdd etc. in compute shaders (matvec needs it)
    bool fp16 = false;                 // shaderFloat16
    bool int8 = false;                 // shaderInt8
    uint64_t max_storage_buffer_range = 0;
    uint64_t max_allocation_bytes = 0;  // maxMemoryAllocationSize
    uint64_t device_local_bytes = 0;    // the largest device-local heap
    uint64_t device_local_free = 0;     // what VK_EXT_memory_budget says is free there, else the heap's size

    // The most one buffer may hold: one allocation, bound whole to a shader.
    uint64_t max_buffer_bytes() const { return std::min(max_storage_buffer_range, max_allocation_bytes); }
};

// The description of physical device `index`, with the WKV_* limits applied.
DeviceInfo describe_device(VkPhysicalDevice d, uint32_t index);

// Lower limits than the device's, so tests can run the paths that real
// limits take (splitting, refusing) on a small device: WKV_MAX_STORAGE_BUFFER_RANGE,
// WKV_MAX_ALLOCATION and WKV_DEVICE_MEMORY, in bytes. A limit is only ever lowered.
void apply_limit_overrides(DeviceInfo& info);

// Host memory a new run can take without swapping: MemAvailable of /proc/meminfo,
// lowered by WKV_HOST_MEMORY (bytes) as the device's is by WKV_DEVICE_MEMORY; 0 where unknown.
uint64_t host_memory_available();

}  // namespace wkv
