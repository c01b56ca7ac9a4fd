// Generated text released in whole UTF-8 characters. A byte-level token holds
// a single byte of a character as often as not (sentencepiece's byte
// fallback, byte-level BPE), so the text after one token may end inside a
// character. Printing that to a terminal garbles it, and a JSON writer refuses
// it outright, so the incomplete end waits for the tokens that complete it.
// A byte that no continuation can make valid (the model is free to sample any
// byte token) becomes U+FFFD, as a UTF-8 decoder shows it.
#pragma once

#include <string>
#include <string_view>

namespace wkv {

class Utf8Stream {
public:
    // Takes the next token's bytes; returns the text that is now whole.
    std::string push(std::string_view bytes);
    // The end of the text: an incomplete character still waiting becomes U+FFFD.
    std::string finish();
    bool holding() const { return !held_.empty(); }

private:
    std::string held_;  // the start of a character, at most 3 bytes
};

// `text` with every byte sequence that is not UTF-8 replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace wkv
