// A broken model made from a good one, for the tests and fuzzers that need
// logits that are not finite: a llama2.c checkpoint (version 0, f32) with the
// embedding rows of some tokens set to NaN. Only the standard library: the C API
// suite, which links nothing of wkv but libwkv, uses it too.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

namespace wkv::test {

// Writes `from` to `to` with the embedding rows of `rows` NaN. With `untie`, the classifier is
// untied first (a negative vocab_size, and the classifier appended after the file's RoPE
// tables): then only a sequence fed one of those tokens goes NaN. Tied, the rows are every
// sequence's logits too. Returns false if `from` cannot be read or is not such a file.
inline bool write_poisoned_llama2c(const std::string& from, const std::string& to, std::initializer_list<int32_t> rows,
                                   bool untie) {
    std::ifstream in(from, std::ios::binary);
    const std::vector<char> original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (original.size() < 28) return false;
    int32_t dim = 0, vocab = 0;
    std::memcpy(&dim, original.data(), 4);  // 7 int32 of config, then the embedding table
    std::memcpy(&vocab, original.data() + 20, 4);
    const size_t table = static_cast<size_t>(vocab) * static_cast<size_t>(dim) * 4;
    if (dim <= 0 || vocab <= 0 || original.size() < 28 + table) return false;
    std::vector<char> bytes = original;
    if (untie) {
        const int32_t untied = -vocab;
        std::memcpy(bytes.data() + 20, &untied, 4);
        bytes.insert(bytes.end(), original.begin() + 28, original.begin() + 28 + static_cast<std::ptrdiff_t>(table));
    }
    const float nan = std::nanf("");
    for (int32_t row : rows) {
        if (row < 0 || row >= vocab) return false;
        for (int32_t i = 0; i < dim; i++)
            std::memcpy(bytes.data() + 28 + (static_cast<size_t>(row) * dim + i) * 4, &nan, 4);
    }
    std::ofstream out(to, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return static_cast<bool>(out);
}

}  // namespace wkv::test
