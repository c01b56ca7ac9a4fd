// How much host memory this process holds, for reports that must stay flat
// over a long run (generate --stats-every, serve's /stats, the soak script).
#pragma once

#include <cstdint>

namespace wkv {

// Resident set size in bytes (Linux /proc/self/statm); 0 where unknown.
uint64_t resident_bytes();

}  // namespace wkv
