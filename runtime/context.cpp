#include "context.hpp"

#include <dlfcn.h>
#include <link.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "vk_check.hpp"

namespace wkv {

const char* vk_result_name(VkResult r) {
    switch (r) {
        case VK_SUCCESS: return "VK_SUCCESS";
        case VK_TIMEOUT: return "VK_TIMEOUT (the device did not finish in time)";
        case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
        case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY (out of device memory)";
        case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
        case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST (the device was lost)";
        case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
        case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
        case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
        case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
        case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER (no Vulkan driver)";
        case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
        case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY";
        case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL";
        default: return "an unexpected VkResult";
    }
}

namespace {

constexpr const char* kValidationLayer = "VK_LAYER_KHRONOS_validation";
constexpr uint64_t kSubmitTimeoutNs = 300ull * 1000 * 1000 * 1000;  // generous for CPU drivers on big models

bool validation_from_environment() {
    const char* v = std::getenv("WKV_VALIDATION");
    if (!v || !*v || std::strcmp(v, "0") == 0) return false;
    if (std::strcmp(v, "1") == 0) return true;
    throw Error("WKV_VALIDATION: expected 0 or 1, got " + quoted(v));
}

bool has_validation_layer() {
    uint32_t n = 0;
    vkEnumerateInstanceLayerProperties(&n, nullptr);
    std::vector<VkLayerProperties> available(n);
    vkEnumerateInstanceLayerProperties(&n, available.data());
    for (const auto& l : available) {
        if (std::strcmp(l.layerName, kValidationLayer) == 0) return true;
    }
    return false;
}

VkInstance create_instance(bool validation) {
    uint32_t api = VK_API_VERSION_1_0;
    if (auto enumerate = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
            vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"))) {
        enumerate(&api);
    }
    if (api < VK_API_VERSION_1_1)
        throw Error("Vulkan 1.1 or newer is needed; this loader offers only 1.0", ExitCode::device);
    std::vector<const char*> layers, extensions;
    if (validation) {
        if (!has_validation_layer()) {
            throw Error(std::string(kValidationLayer) + " is not installed (apt-get install vulkan-validationlayers)",
                        ExitCode::device);
        }
        layers.push_back(kValidationLayer);
        extensions.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "wkv";
    app.apiVersion = api >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    VkInstanceCreateInfo info{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    info.pApplicationInfo = &app;
    info.enabledLayerCount = static_cast<uint32_t>(layers.size());
    info.ppEnabledLayerNames = layers.data();
    info.enabledExtensionCount = static_cast<uint32_t>(extensions.size());
    info.ppEnabledExtensionNames = extensions.data();
    VkInstance instance = VK_NULL_HANDLE;
    const VkResult r = vkCreateInstance(&info, nullptr, &instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER) {
        throw Error("no Vulkan driver found (install one, e.g. apt-get install mesa-vulkan-drivers)", ExitCode::device);
    }
    vk_check(r, "vkCreateInstance");
    return instance;
}

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
    uint32_t n = 0;
    vk_check(vkEnumeratePhysicalDevices(instance, &n, nullptr), "vkEnumeratePhysicalDevices");
    std::vector<VkPhysicalDevice> devices(n);
    vk_check(vkEnumeratePhysicalDevices(instance, &n, devices.data()), "vkEnumeratePhysicalDevices");
    if (devices.empty())
        throw Error("no Vulkan device found (install a driver, e.g. apt-get install mesa-vulkan-drivers)",
                    ExitCode::device);
    return devices;
}

// LeakSanitizer checks for leaks after main() returns. By then the Vulkan
// loader has dlclose()d the driver and layers, so a leak inside them (lavapipe
// leaks 128 bytes on some machines) has an <unknown module> stack that no
// suppression can name, and the sanitizer build fails on code wkv does not
// own. Sanitizer builds therefore pin every library loaded so far: each stays
// mapped until exit, and tests/lsan_suppressions.txt suppresses leaks in it by
// library name. Leaks in wkv's own code are still reported. Called before
// every vkDestroyInstance, when everything the instance loaded is still loaded.
void keep_loaded_libraries_mapped() {
#if WKV_KEEP_DRIVERS_LOADED
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void*) {
            // RTLD_NOLOAD only takes another reference to a library already loaded; it never loads one.
            if (info->dlpi_name && *info->dlpi_name) dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
            return 0;
        },
        nullptr);
#endif
}

int preference(VkPhysicalDevice d) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(d, &props);
    switch (props.deviceType) {
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
        default: return 4;
    }
}

// The device `options` name, else the most preferred.
uint32_t choose_device(const std::vector<VkPhysicalDevice>& devices, const ContextOptions& options) {
    if (options.device_index) {
        if (*options.device_index >= devices.size()) {
            throw Error("no Vulkan device " + std::to_string(*options.device_index) + " (found " +
                            std::to_string(devices.size()) + "; see 'wkv devices')",
                        ExitCode::device);
        }
        return *options.device_index;
    }
    uint32_t chosen = 0;
    for (uint32_t i = 1; i < devices.size(); i++) {
        if (preference(devices[i]) < preference(devices[chosen])) chosen = i;
    }
    return chosen;
}

// `use(instance)` with a short-lived instance without validation, destroyed however `use` ends.
template <class F>
auto with_instance(F use) {
    struct Instance {
        VkInstance handle;
        ~Instance() {
            keep_loaded_libraries_mapped();
            vkDestroyInstance(handle, nullptr);
        }
    } instance{create_instance(false)};
    return use(instance.handle);
}

}  // namespace

bool validation_layer_available() { return has_validation_layer(); }

std::vector<DeviceInfo> list_devices() {
    return with_instance([](VkInstance instance) {
        std::vector<DeviceInfo> out;
        const auto devices = physical_devices(instance);
        for (uint32_t i = 0; i < devices.size(); i++) out.push_back(describe_device(devices[i], i));
        return out;
    });
}

DeviceInfo describe_chosen_device(const ContextOptions& options) {
    return with_instance([&](VkInstance instance) {
        const auto devices = physical_devices(instance);
        const uint32_t chosen = choose_device(devices, options);
        return describe_device(devices[chosen], chosen);
    });
}

VKAPI_ATTR VkBool32 VKAPI_CALL Context::on_validation_message(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                              VkDebugUtilsMessageTypeFlagsEXT,
                                                              const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                              void* self) {
    auto* ctx = static_cast<Context*>(self);
    std::lock_guard<std::mutex> lock(ctx->messages_mutex_);
    ctx->messages_.push_back(data && data->pMessage ? data->pMessage : "(empty validation message)");
    return VK_FALSE;
}

Context::Context(const ContextOptions& options) {
    const bool validation = options.validation || validation_from_environment();
    instance_ = create_instance(validation);
    try {
        if (validation) {
            VkDebugUtilsMessengerCreateInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
            info.messageSeverity =
                VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
            info.messageType =
                VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT;
            info.pfnUserCallback = on_validation_message;
            info.pUserData = this;
            auto create = reinterpret_cast<PFN_vkCreateDebugUtilsMessengerEXT>(
                vkGetInstanceProcAddr(instance_, "vkCreateDebugUtilsMessengerEXT"));
            if (!create) throw Error("Vulkan: vkCreateDebugUtilsMessengerEXT is missing", ExitCode::device);
            vk_check(create(instance_, &info, nullptr, &messenger_), "vkCreateDebugUtilsMessengerEXT");
        }

        const auto devices = physical_devices(instance_);
        const uint32_t chosen = choose_device(devices, options);
        physical_ = devices[chosen];
        info_ = describe_device(physical_, chosen);
        VkPhysicalDeviceProperties props;
        vkGetPhysicalDeviceProperties(physical_, &props);
        if (props.apiVersion < VK_API_VERSION_1_1) {
            throw Error(
                "device " + quoted(info_.name) + " supports only Vulkan " + info_.api_version + "; 1.1 is needed",
                ExitCode::device);
        }
        if (!info_.subgroup_arithmetic) {
            throw Error("device " + quoted(info_.name) +
                            " has no subgroup arithmetic in compute shaders, which wkv's matvec needs",
                        ExitCode::device);
        }
        limits_ = props.limits;
        vkGetPhysicalDeviceMemoryProperties(physical_, &memory_);

        uint32_t n_families = 0;
        vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_families, nullptr);
        std::vector<VkQueueFamilyProperties> families(n_families);
        vkGetPhysicalDeviceQueueFamilyProperties(physical_, &n_families, families.data());
        bool found = false;
        for (uint32_t i = 0; i < n_families && !found; i++) {
            if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
                queue_family_ = i;
                timestamp_bits_ = families[i].timestampValidBits;
                found = true;
            }
        }
        if (!found) throw Error("device " + quoted(info_.name) + " has no compute queue", ExitCode::device);

        const float priority = 1.0f;
        VkDeviceQueueCreateInfo queue{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
        queue.queueFamilyIndex = queue_family_;
        queue.queueCount = 1;
        queue.pQueuePriorities = &priority;
        VkDeviceCreateInfo device{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
        device.queueCreateInfoCount = 1;
        device.pQueueCreateInfos = &queue;
        vk_check(vkCreateDevice(physical_, &device, nullptr, &device_), "vkCreateDevice");
        vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

        VkCommandPoolCreateInfo pool{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
        pool.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
        pool.queueFamilyIndex = queue_family_;
        vk_check(vkCreateCommandPool(device_, &pool, nullptr, &pool_), "vkCreateCommandPool");
        VkFenceCreateInfo fence{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        vk_check(vkCreateFence(device_, &fence, nullptr, &fence_), "vkCreateFence");
    } catch (...) {
        release();
        throw;
    }
}

Context::~Context() { release(); }

void Context::release() {
    if (device_) {
        vkDeviceWaitIdle(device_);
        if (fence_) vkDestroyFence(device_, fence_, nullptr);
        if (pool_) vkDestroyCommandPool(device_, pool_, nullptr);
        vkDestroyDevice(device_, nullptr);
        device_ = VK_NULL_HANDLE;
    }
    if (messenger_) {
        auto destroy = reinterpret_cast<PFN_vkDestroyDebugUtilsMessengerEXT>(
            vkGetInstanceProcAddr(instance_, "vkDestroyDebugUtilsMessengerEXT"));
        if (destroy) destroy(instance_, messenger_, nullptr);
        messenger_ = VK_NULL_HANDLE;
    }
    if (instance_) {
        keep_loaded_libraries_mapped();  // before the loader can unload anything
        vkDestroyInstance(instance_, nullptr);
        instance_ = VK_NULL_HANDLE;
    }
}

uint32_t Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                              VkMemoryPropertyFlags preferred) const {
    for (VkMemoryPropertyFlags want : {required | preferred, required}) {
        for (uint32_t i = 0; i < memory_.memoryTypeCount; i++) {
            if ((type_bits & (1u << i)) && (memory_.memoryTypes[i].propertyFlags & want) == want) return i;
        }
    }
    throw Error("device " + quoted(info_.name) + " has no suitable memory type", ExitCode::device);
}

void Context::submit_and_wait(VkCommandBuffer cmd, VkFence fence) {
    VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    submit.commandBufferCount = 1;
    submit.pCommandBuffers = &cmd;
    vk_check(vkResetFences(device_, 1, &fence), "vkResetFences");
    vk_check(vkQueueSubmit(queue_, 1, &submit, fence), "vkQueueSubmit");
    vk_check(vkWaitForFences(device_, 1, &fence, VK_TRUE, kSubmitTimeoutNs), "waiting for the device");
}

void Context::run_once(const std::function<void(VkCommandBuffer)>& record) {
    VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    alloc.commandPool = pool_;
    alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    alloc.commandBufferCount = 1;
    VkCommandBuffer cmd = VK_NULL_HANDLE;
    vk_check(vkAllocateCommandBuffers(device_, &alloc, &cmd), "vkAllocateCommandBuffers");
    try {
        VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
        vk_check(vkBeginCommandBuffer(cmd, &begin), "vkBeginCommandBuffer");
        record(cmd);
        vk_check(vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
        submit_and_wait(cmd, fence_);
    } catch (...) {
        vkFreeCommandBuffers(device_, pool_, 1, &cmd);
        throw;
    }
    vkFreeCommandBuffers(device_, pool_, 1, &cmd);
}

std::vector<std::string> Context::validation_messages() const {
    std::lock_guard<std::mutex> lock(messages_mutex_);
    return messages_;
}

}  // namespace wkv
