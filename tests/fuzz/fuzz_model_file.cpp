// GGUF and llama2.c checkpoints: load, then decode the first and last row of
// every tensor (the bytes a loader promises are there), recognise the chat
// template and build the embedded tokenizer.
#include <vector>

#include "chat_template.hpp"
#include "fuzz_input.hpp"
#include "model.hpp"
#include "tensor_roles.hpp"
#include "tokenizer.hpp"

namespace {

void decode_ends(const wkv::TensorView& t) {
    if (t.rows == 0 || t.cols == 0) return;
    std::vector<float> row(t.cols);
    wkv::dequantize_row(t, 0, row.data());
    wkv::dequantize_row(t, t.rows - 1, row.data());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = wkv::fuzz::as_file(data, size, ".model.bin");
    wkv::fuzz::expect_only_errors([&] {
        const wkv::Model m = wkv::load_model(path);
        for (const wkv::TensorView* t : wkv::all_tensors(m)) decode_ends(*t);
        (void)wkv::recognise_chat_template(m.chat_template);
        if (m.vocabulary) {
            const wkv::Tokenizer t = wkv::Tokenizer::from_vocabulary(*m.vocabulary);
            (void)t.decode(t.encode("Hello, world", true));
        }
    });
    return 0;
}
