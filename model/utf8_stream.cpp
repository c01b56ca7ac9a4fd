#include "utf8_stream.hpp"

#include <cstdint>

namespace wkv {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the character a lead byte starts, or 0 if it starts none.
size_t sequence_length(uint8_t lead) {
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) return 2;
    if (lead >= 0xE0 && lead <= 0xEF) return 3;
    if (lead >= 0xF0 && lead <= 0xF4) return 4;
    return 0;  // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF)
}

// Whether `byte` may follow `lead` as the k-th byte of its character (k >= 1). The second
// byte's range excludes overlong forms, surrogates and code points past U+10FFFF (RFC 3629).
bool continues(uint8_t lead, size_t k, uint8_t byte) {
    uint8_t lo = 0x80, hi = 0xBF;
    if (k == 1) {
        if (lead == 0xE0) lo = 0xA0;
        if (lead == 0xED) hi = 0x9F;
        if (lead == 0xF0) lo = 0x90;
        if (lead == 0xF4) hi = 0x8F;
    }
    return byte >= lo && byte <= hi;
}

// Appends the whole characters of `text` to `out`, invalid bytes as U+FFFD; returns
// the length of an incomplete but so far valid character at the end (not appended).
size_t append_whole(std::string_view text, std::string& out) {
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<uint8_t>(text[i]);
        const size_t n = sequence_length(lead);
        if (n == 0) {
            out += kReplacement;
            i++;
            continue;
        }
        size_t k = 1;
        while (k < n && i + k < text.size() && continues(lead, k, static_cast<uint8_t>(text[i + k]))) k++;
        if (k == n) {
            out.append(text.substr(i, n));
        } else if (i + k == text.size()) {
            return k;  // the text ends inside this character: the rest may come
        } else {
            out += kReplacement;  // a valid start cut short: one replacement for the bytes so far
        }
        i += k;
    }
    return 0;
}

}  // namespace

std::string Utf8Stream::push(std::string_view bytes) {
    held_.append(bytes);
    std::string out;
    const size_t waiting = append_whole(held_, out);
    held_.erase(0, held_.size() - waiting);
    return out;
}

std::string Utf8Stream::finish() {
    std::string out = held_.empty() ? "" : std::string(kReplacement);
    held_.clear();
    return out;
}

std::string valid_utf8(std::string_view text) {
    std::string out;
    if (append_whole(text, out)) out += kReplacement;
    return out;
}

}  // namespace wkv
