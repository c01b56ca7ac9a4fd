#include "progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace wkv {

Progress::Progress(std::string what, std::string unit, uint64_t total, bool lines_when_piped, double scale)
    : what_(std::move(what)),
      unit_(std::move(unit)),
      total_(total),
      scale_(scale),
      tty_(::isatty(STDERR_FILENO)),
      lines_(lines_when_piped),
      start_(clock::now()),
      last_(start_) {}

void Progress::set(uint64_t done) {
    done_ = done;
    if (!tty_ && !lines_) return;
    const auto now = clock::now();
    const bool due = std::chrono::duration<double>(now - last_).count() >= (tty_ ? 0.2 : 10.0);
    // The last count is shown where earlier ones were; a job done within the first
    // interval leaves a log no line.
    if (!due && (done_ < total_ || (!tty_ && !printed_))) return;
    printed_ = true;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = elapsed > 0 ? done_ / scale_ / elapsed : 0;
    const double eta = rate > 0 ? (total_ - std::min(done_, total_)) / scale_ / rate : 0;
    const double shown = done_ / scale_, all = total_ / scale_;
    if (tty_) {
        const int width = 30,
                  filled = static_cast<int>(width * std::min(done_, total_) / std::max<uint64_t>(total_, 1));
        std::fprintf(stderr, "\r%s [%.*s%*s] %.0f/%.0f %s  %.1f %s/s  ETA %.0fs ", what_.c_str(), filled,
                     "##############################", width - filled, "", shown, all, unit_.c_str(), rate,
                     unit_.c_str(), eta);
        drawn_ = true;
    } else {
        std::fprintf(stderr, "%s: %.0f/%.0f %s, %.1f %s/s, ETA %.0fs\n", what_.c_str(), shown, all, unit_.c_str(), rate,
                     unit_.c_str(), eta);
    }
}

void Progress::finish() {
    if (drawn_ && !finished_) std::fprintf(stderr, "\n");
    finished_ = true;
}

}  // namespace wkv
