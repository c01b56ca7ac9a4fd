// Size arithmetic on numbers read from files: every product and sum that sizes
// a read is checked, so a hostile header cannot wrap a 64-bit size around.
#pragma once

#include <cstdint>
#include <optional>

namespace wkv {

inline std::optional<uint64_t> checked_mul(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
    return r;
}

inline std::optional<uint64_t> checked_add(uint64_t a, uint64_t b) {
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
    return r;
}

}  // namespace wkv
