// Tokenizer files: llama2.c tokenizer.bin, sentencepiece .model and a GGUF
// vocabulary (sentencepiece or byte-level BPE: tokens, types, merges, pre-tokenizer),
// the first input byte chooses; then one encode and decode with what was loaded.
#include "fuzz_input.hpp"
#include "gguf_vocabulary.hpp"
#include "tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const char* const kinds[] = {".bin", ".model", ".gguf"};
    const int kind = data[0] % 3;
    const std::string path = wkv::fuzz::as_file(data + 1, size - 1, kinds[kind]);
    wkv::fuzz::expect_only_errors([&] {
        const wkv::Tokenizer t =
            kind == 2 ? wkv::Tokenizer::from_vocabulary(wkv::load_gguf_vocabulary(path)) : wkv::Tokenizer::load(path);
        (void)t.decode(t.encode("Once upon a time, \xe2\x96\x81 \xff caf\xc3\xa9 I'll 1234 \n\n  x", true));
    });
    return 0;
}
