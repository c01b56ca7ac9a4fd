// Encoding and decoding text with real vocabularies: Llama 2's as a
// sentencepiece .model (libsentencepiece: the reference) and as a llama2.c
// tokenizer.bin (wkv's own BPE), and the 512-piece tok512.bin. For any bytes:
//   - every id is inside the vocabulary;
//   - decode(encode(text)) is the text as sentencepiece normalises it
//     (Tokenizer::normalize: invalid UTF-8 becomes U+FFFD, U+2581 a space);
//   - wkv's BPE gives sentencepiece's ids for the same vocabulary.
// And with Llama 3's and Qwen2's byte-level BPE vocabularies: ids inside the
// vocabulary, and decode(encode(text)) the text with invalid UTF-8 as U+FFFD.
#include <cstdio>
#include <cstdlib>

#include "fuzz_input.hpp"
#include "gguf_vocabulary.hpp"
#include "tokenizer.hpp"
#include "utf8_stream.hpp"

namespace {

void check(bool ok, const char* what, const std::string& text) {
    if (ok) return;
    std::fprintf(stderr, "finding: %s for the text %s\n", what, wkv::quoted(text).c_str());
    std::abort();
}

void check_ids(const wkv::Tokenizer& t, const std::vector<int32_t>& ids, const std::string& text) {
    for (int32_t id : ids) check(id >= 0 && id < t.vocab_size(), "an id outside the vocabulary", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const wkv::Tokenizer sp = wkv::Tokenizer::load(wkv::fuzz::shared_path("models/llama2-tokenizer.model"));
    static const wkv::Tokenizer bpe = wkv::Tokenizer::load(wkv::fuzz::shared_path("models/llama2-tokenizer.bin"));
    static const wkv::Tokenizer small = wkv::Tokenizer::load(wkv::fuzz::shared_path("models/tok512.bin"));
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::string normal = wkv::Tokenizer::normalize(text);

    const std::vector<int32_t> reference = sp.encode(text, false);
    check_ids(sp, reference, text);
    check(sp.decode(reference) == normal, "sentencepiece's decode(encode(text)) is not normalize(text)", text);
    for (const wkv::Tokenizer* t : {&bpe, &small}) {
        const std::vector<int32_t> ids = t->encode(text, false);
        check_ids(*t, ids, text);
        check(t->decode(ids) == normal, "decode(encode(text)) is not normalize(text)", text);
    }
    check(bpe.encode(text, false) == reference, "tokenizer.bin's ids differ from the .model's", text);

    static const wkv::Tokenizer llama3 = wkv::Tokenizer::from_vocabulary(
        wkv::load_gguf_vocabulary(wkv::fuzz::shared_path("models/vocab/ggml-vocab-llama-bpe.gguf")));
    static const wkv::Tokenizer qwen2 = wkv::Tokenizer::from_vocabulary(
        wkv::load_gguf_vocabulary(wkv::fuzz::shared_path("models/vocab/ggml-vocab-qwen2.gguf")));
    for (const wkv::Tokenizer* t : {&llama3, &qwen2}) {
        const std::vector<int32_t> ids = t->encode(text, false);
        check_ids(*t, ids, text);
        check(t->decode(ids) == wkv::valid_utf8(text), "byte-level decode(encode(text)) is not the text", text);
    }
    return 0;
}
