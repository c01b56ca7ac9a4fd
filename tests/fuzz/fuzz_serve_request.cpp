// The body of a request to `wkv serve`: parsed strictly as a chat or a
// completion (the first byte chooses); a chat that parses is rendered with the
// Llama-2 template and tokenized, as the server would.
#include "chat_template.hpp"
#include "fuzz_input.hpp"
#include "serve_request.hpp"
#include "tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    static const wkv::Tokenizer tokenizer = wkv::Tokenizer::load(wkv::fuzz::shared_path("models/tok512.bin"));
    static const wkv::ChatTemplate chat(wkv::ChatFamily::llama2, tokenizer);
    const bool is_chat = data[0] & 1;
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const wkv::ParsedRequest r = wkv::parse_request(body, is_chat, 16);
        wkv::fuzz::expect_only_errors([&] {
            if (is_chat)
                (void)chat.render(r.job->messages, true);
            else
                (void)tokenizer.encode(r.job->prompt, true);
        });
    } catch (const wkv::BadRequest& e) {
        if (e.message.empty()) std::abort();  // a 400 must say what is wrong
    }
    return 0;
}
