#include "process_memory.hpp"

#include <unistd.h>

#include <cstdio>

namespace wkv {

uint64_t resident_bytes() {
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long long size = 0, resident = 0;
    const bool ok = std::fscanf(f, "%llu %llu", &size, &resident) == 2;
    std::fclose(f);
    const long page = ::sysconf(_SC_PAGESIZE);
    return ok && page > 0 ? resident * static_cast<uint64_t>(page) : 0;
}

}  // namespace wkv
