// What the fuzz harnesses share: the fuzzer's bytes as a file (the loaders
// read paths), and the rule that only wkv::Error may escape a harness's call.
// Anything else (a crash, a sanitizer report, another exception) is a finding.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "error.hpp"

namespace wkv::fuzz {

// Writes `data` to a file in memory (/dev/shm, else /tmp) whose name ends in
// `suffix` (the tokenizer loader chooses its format by the extension) and
// returns its path. The file is removed when the fuzzer exits.
inline std::string as_file(const uint8_t* data, size_t size, const std::string& suffix) {
    static const std::string folder = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    static std::set<std::string> written;  // removed at exit
    const std::string path = folder + "/wkv-fuzz-" + std::to_string(::getpid()) + suffix;
    if (written.empty())
        std::atexit([] {
            for (const std::string& p : written) ::unlink(p.c_str());
        });
    written.insert(path);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) std::abort();
    for (size_t done = 0; done < size;) {
        const ssize_t n = ::write(fd, data + done, size - done);
        if (n <= 0) std::abort();
        done += static_cast<size_t>(n);
    }
    ::close(fd);
    return path;
}

// Runs `f`; a wkv::Error is the expected answer to bad input. Its message must
// already be one printable line: strings from the input are quoted where they
// are put in, not cleaned up at the end.
template <typename F>
void expect_only_errors(F&& f) {
    try {
        f();
    } catch (const Error& e) {
        for (const char* c = e.what(); *c; c++) {
            if (static_cast<unsigned char>(*c) < 0x20 || *c == 0x7f) {
                std::fprintf(stderr, "finding: an error message holds a control character: %s\n",
                             one_line(e.what()).c_str());
                std::abort();
            }
        }
    }
}

// A file under ../shared (WKV_SHARED, else the folder CMake was given).
inline std::string shared_path(const std::string& relative) {
    const char* env = std::getenv("WKV_SHARED");
    return std::string(env ? env : WKV_SHARED_DIR) + "/" + relative;
}

}  // namespace wkv::fuzz
