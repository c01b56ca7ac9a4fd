// Comparing secrets (the API key, a cache view's token) without telling a timing
// attacker how much of a guess is right.
#pragma once

#include <string_view>

namespace wkv {

// Whether `given` equals `secret`, in a time that depends on the secret's length only.
inline bool constant_time_equal(std::string_view given, std::string_view secret) {
    unsigned difference = given.size() != secret.size();
    for (size_t i = 0; i < secret.size(); i++) {
        const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        difference |= g ^ static_cast<unsigned char>(secret[i]);
    }
    return difference == 0;
}

}  // namespace wkv
