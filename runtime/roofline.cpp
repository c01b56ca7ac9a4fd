#include "roofline.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "buffer.hpp"
#include "pipeline.hpp"
#include "push_constants.hpp"
#include "recorder.hpp"

namespace wkv {

CopyBandwidth measure_copy_bandwidth(Context& ctx, uint64_t bytes, uint32_t runs) {
    bytes = std::min(bytes, ctx.info().max_buffer_bytes()) / 16 * 16;
    const uint32_t workgroup = 64, groups = 1024;  // enough invocations to keep any device's memory busy
    Pipeline copy(ctx, "copy", 2, sizeof(push::Copy), {workgroup});
    Buffer src(ctx, bytes, Memory::device_local), dst(ctx, bytes, Memory::device_local);
    Recorder r(ctx);
    std::vector<double> gb_s;
    for (uint32_t run = 0; run <= runs; run++) {  // run 0 warms up
        r.begin();
        r.dispatch(copy, {src, dst}, push::Copy{static_cast<uint32_t>(bytes / 16), workgroup * groups}, groups);
        const auto t0 = std::chrono::steady_clock::now();
        r.submit_and_wait();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (run > 0) gb_s.push_back(2.0 * static_cast<double>(bytes) / seconds / 1e9);
    }
    std::sort(gb_s.begin(), gb_s.end());
    return {bytes, gb_s[gb_s.size() / 2]};
}

}  // namespace wkv
