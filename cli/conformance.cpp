// wkv conformance: every shader against the CPU reference on the chosen
// device, with the Khronos validation layer on when it is installed.
#include "conformance.hpp"

#include <cstdio>

#include "commands.hpp"

namespace wkv {

const CommandSpec kConformanceCommand{
    "conformance",
    "Checks every shader against the CPU reference on a Vulkan device.",
    "Checks every shader against the CPU reference on a Vulkan device and prints a pass/fail table\n"
    "with the worst error per case. Exit code 0 when all pass, 1 otherwise.",
    {device_flag(), {"--help", "-h", "", "show this help"}},
};

int run_conformance_command(const Args& args) {
    ContextOptions options;
    if (args.has("--device")) options.device_index = static_cast<uint32_t>(args.integer("--device", 0, 0, 255));
    options.validation = validation_layer_available();
    if (!options.validation)
        std::fprintf(stderr, "wkv: the Vulkan validation layer is not installed; checking without it\n");
    const auto ctx = std::make_unique<Context>(options);
    std::printf("device %u: %s (%s)\n\n", ctx->info().index, ctx->info().name.c_str(), ctx->info().driver.c_str());
    std::printf("%-22s %-52s %12s %10s  %s\n", "shader", "case", "worst", "tolerance", "result");
    int failures = 0;
    for (const ConformanceResult& r : run_conformance(*ctx)) {
        std::printf("%-22s %-52s %12.3g %10.0e  %s   (%s)\n", r.shader.c_str(), r.case_name.c_str(), r.worst,
                    r.tolerance, r.pass() ? "pass" : "FAIL", r.measure.c_str());
        failures += !r.pass();
    }
    const std::vector<std::string> messages = ctx->validation_messages();
    for (const std::string& m : messages) std::printf("validation: %s\n", m.c_str());
    std::printf("\n%s: %d failed, %zu validation messages%s\n", failures || !messages.empty() ? "FAIL" : "PASS",
                failures, messages.size(), ctx->validation_enabled() ? "" : " (validation layer off)");
    return failures || !messages.empty() ? 1 : 0;
}

}  // namespace wkv
