#include "error.hpp"

#include <cstdio>

namespace wkv {

namespace {

std::string hex_byte(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    return buf;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_length(std::string_view s, size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
    }
    return n;
}

}  // namespace

std::string quoted(std::string_view text) {
    constexpr size_t kMaxCharacters = 80;
    std::string out = "'";
    size_t characters = 0;
    for (size_t i = 0; i < text.size(); characters++) {
        if (characters == kMaxCharacters) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        const size_t n = utf8_length(text, i);
        if (n == 0 || c < 0x20 || c == 0x7f) {
            out += hex_byte(c);
            i++;
        } else {
            out.append(text.substr(i, n));
            i += n;
        }
    }
    return out + "'";
}

std::string one_line(std::string_view message) {
    std::string out;
    for (char ch : message) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f)
            out += hex_byte(c);
        else
            out += ch;
    }
    return out;
}

}  // namespace wkv
