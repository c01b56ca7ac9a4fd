// wkv devices: every Vulkan device with what matters for inference.
#include <cstdio>

#include "commands.hpp"

namespace wkv {

const CommandSpec kDevicesCommand{
    "devices",
    "Lists the Vulkan devices and what each supports.",
    "Lists the Vulkan devices: index, name, type, driver, memory heaps, subgroup size, fp16/int8 support.",
    {{"--help", "-h", "", "show this help"}},
};

int run_devices(const Args&) {
    for (const DeviceInfo& d : list_devices()) {
        std::printf("%u: %s\n", d.index, d.name.c_str());
        std::printf("   type %s, Vulkan %s, driver %s\n", d.type.c_str(), d.api_version.c_str(), d.driver.c_str());
        std::printf("   memory heaps:");
        for (const std::string& heap : d.heaps) std::printf(" [%s]", heap.c_str());
        std::printf("\n   subgroup size %u (arithmetic %s), fp16 %s, int8 %s, max storage buffer range %.0f MiB\n",
                    d.subgroup_size, d.subgroup_arithmetic ? "yes" : "no", d.fp16 ? "yes" : "no", d.int8 ? "yes" : "no",
                    d.max_storage_buffer_range / 1048576.0);
    }
    return 0;
}

}  // namespace wkv
