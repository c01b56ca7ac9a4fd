// Tokenizer files: llama2.c tokenizer.bin and sentencepiece .model (the first
// input byte chooses), then one encode and decode with what was loaded.
#include "fuzz_input.hpp"
#include "tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string path = wkv::fuzz::as_file(data + 1, size - 1, data[0] & 1 ? ".model" : ".bin");
    wkv::fuzz::expect_only_errors([&] {
        const wkv::Tokenizer t = wkv::Tokenizer::load(path);
        (void)t.decode(t.encode("Once upon a time, \xe2\x96\x81 \xff caf\xc3\xa9", true));
    });
    return 0;
}
