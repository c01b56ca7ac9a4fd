// Leaks on purpose, after loading the Vulkan driver, to prove that the
// sanitizer build still fails on a leak in wkv's own code while the driver's
// own leaks are suppressed (tests/lsan_suppressions.txt). ctest expects
// LeakSanitizer's report naming wkv_leak_on_purpose, and no <unknown module>.
#include <cstdio>

#include "runtime/kernels.hpp"

// Not static and not inlined, so the report's stack names it.
__attribute__((noinline)) void wkv_leak_on_purpose() {
    int* volatile lost = new int[32];
    lost[0] = 1;
    lost = nullptr;
}

int main() {
    {
        // Loads the driver and compiles every pipeline: where lavapipe leaks on its own.
        wkv::Context ctx;
        const wkv::Kernels kernels(ctx);
        std::printf("device: %s\n", ctx.info().name.c_str());
    }
    wkv_leak_on_purpose();
    return 0;
}
