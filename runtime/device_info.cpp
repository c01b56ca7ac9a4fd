#include "device_info.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "error.hpp"

namespace wkv {

namespace {

bool has_device_extension(VkPhysicalDevice d, const char* name) {
    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(d, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> extensions(n);
    vkEnumerateDeviceExtensionProperties(d, nullptr, &n, extensions.data());
    for (const auto& e : extensions) {
        if (std::strcmp(e.extensionName, name) == 0) return true;
    }
    return false;
}

// A limit from the environment, in bytes; throws naming the variable when it is not a positive integer.
std::optional<uint64_t> limit_from_environment(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || n == 0 || v[0] == '-') {
        throw Error(std::string(name) + ": expected a positive number of bytes, got " + quoted(v));
    }
    return n;
}

}  // namespace

DeviceInfo describe_device(VkPhysicalDevice d, uint32_t index) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(d, &props);
    DeviceInfo info;
    info.index = index;
    info.name = props.deviceName;
    switch (props.deviceType) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info.type = "discrete GPU"; break;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info.type = "integrated GPU"; break;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info.type = "virtual GPU"; break;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: info.type = "CPU"; break;
        default: info.type = "other"; break;
    }
    info.api_version = std::to_string(VK_API_VERSION_MAJOR(props.apiVersion)) + "." +
                       std::to_string(VK_API_VERSION_MINOR(props.apiVersion)) + "." +
                       std::to_string(VK_API_VERSION_PATCH(props.apiVersion));
    info.max_storage_buffer_range = props.limits.maxStorageBufferRange;

    VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 props2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props2.pNext = &subgroup;
    const bool v12 = props.apiVersion >= VK_API_VERSION_1_2;
    if (v12) subgroup.pNext = &driver;
    vkGetPhysicalDeviceProperties2(d, &props2);
    info.subgroup_size = subgroup.subgroupSize;
    info.subgroup_arithmetic = (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                               (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info.driver = v12 ? std::string(driver.driverName) + " " + driver.driverInfo : "unknown (Vulkan 1.1 device)";

    VkPhysicalDeviceShaderFloat16Int8Features f16i8{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    if (v12) features.pNext = &f16i8;
    vkGetPhysicalDeviceFeatures2(d, &features);
    info.fp16 = f16i8.shaderFloat16;
    info.int8 = f16i8.shaderInt8;

    VkPhysicalDeviceMaintenance3Properties maintenance3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 props3{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    props3.pNext = &maintenance3;
    vkGetPhysicalDeviceProperties2(d, &props3);
    info.max_allocation_bytes = maintenance3.maxMemoryAllocationSize;

    // Heaps, and what is free in them where the driver says (VK_EXT_memory_budget).
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 memory2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    const bool has_budget = has_device_extension(d, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (has_budget) memory2.pNext = &budget;
    vkGetPhysicalDeviceMemoryProperties2(d, &memory2);
    const VkPhysicalDeviceMemoryProperties& memory = memory2.memoryProperties;
    for (uint32_t h = 0; h < memory.memoryHeapCount; h++) {
        char size[32];
        std::snprintf(size, sizeof size, "%.1f GiB", memory.memoryHeaps[h].size / 1073741824.0);
        const bool local = memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
        info.heaps.push_back(std::string(size) + (local ? " device-local" : " host"));
        if (local && memory.memoryHeaps[h].size > info.device_local_bytes) {
            info.device_local_bytes = memory.memoryHeaps[h].size;
            const uint64_t free =
                has_budget ? budget.heapBudget[h] - std::min(budget.heapBudget[h], budget.heapUsage[h]) : 0;
            info.device_local_free = has_budget && free > 0 ? std::min<uint64_t>(free, memory.memoryHeaps[h].size)
                                                            : memory.memoryHeaps[h].size;
        }
    }
    apply_limit_overrides(info);
    return info;
}

void apply_limit_overrides(DeviceInfo& info) {
    auto lower = [](uint64_t& limit, const char* variable) {
        if (const auto v = limit_from_environment(variable)) limit = std::min(limit, *v);
    };
    lower(info.max_storage_buffer_range, "WKV_MAX_STORAGE_BUFFER_RANGE");
    lower(info.max_allocation_bytes, "WKV_MAX_ALLOCATION");
    lower(info.device_local_bytes, "WKV_DEVICE_MEMORY");
    lower(info.device_local_free, "WKV_DEVICE_MEMORY");
}

uint64_t host_memory_available() {
    uint64_t available = 0;
    std::ifstream meminfo("/proc/meminfo");
    std::string name, unit;
    uint64_t kib = 0;
    while (meminfo >> name >> kib >> unit) {
        if (name == "MemAvailable:") available = kib * 1024;
    }
    if (const auto v = limit_from_environment("WKV_HOST_MEMORY")) available = available ? std::min(available, *v) : *v;
    return available;
}

}  // namespace wkv
