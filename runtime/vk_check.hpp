// Turns a failed Vulkan call into wkv::Error with exit code 3 (device errors).
#pragma once

#include <vulkan/vulkan.h>

#include <string>

#include "error.hpp"

namespace wkv {

const char* vk_result_name(VkResult r);

inline void vk_check(VkResult r, const char* what) {
    if (r != VK_SUCCESS) {
        throw Error(std::string("Vulkan: ") + what + " failed: " + vk_result_name(r), ExitCode::device);
    }
}

}  // namespace wkv
