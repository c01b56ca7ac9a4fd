// The device's memory bandwidth as a plain copy kernel reaches it: the
// ceiling a decode step, which must read every weight once, is held against
// (`wkv bench --roofline`).
#pragma once

#include <cstdint>

#include "context.hpp"

namespace wkv {

struct CopyBandwidth {
    uint64_t bytes = 0;  // copied per run (each byte read once and written once)
    double gb_s = 0;     // (read + written) / time, the median of the runs
};

// Copies `bytes` (capped to the device's buffer limit) between two device-local
// buffers `runs` times.
CopyBandwidth measure_copy_bandwidth(Context& ctx, uint64_t bytes = 256ull << 20, uint32_t runs = 5);

}  // namespace wkv
