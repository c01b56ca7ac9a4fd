// Progress of a long job on stderr: a bar redrawn in place when stderr is a
// terminal (at most 5 times a second), with the rate and the time left. When
// stderr is not a terminal, a line every 10 s if asked (ppl's runs, a prompt:
// a log shows that a long job is alive), else nothing (loading a model).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace wkv {

class Progress {
public:
    // `unit` names what is counted ("tokens", "MiB"); `scale` divides the counts for display.
    Progress(std::string what, std::string unit, uint64_t total, bool lines_when_piped, double scale = 1.0);
    ~Progress() { finish(); }
    void advance(uint64_t n) { set(done_ + n); }
    void set(uint64_t done);
    void finish();  // ends the terminal line, if one was drawn

private:
    using clock = std::chrono::steady_clock;
    std::string what_, unit_;
    uint64_t total_, done_ = 0;
    double scale_;
    bool tty_, lines_, drawn_ = false, finished_ = false, printed_ = false;
    clock::time_point start_, last_;
};

}  // namespace wkv
