// wkv tokenize: the token ids a model's tokenizer gives a text, as llama.cpp's
// llama-tokenize prints them. Only the vocabulary is read, so a GGUF file
// that is nothing but a vocabulary works too.
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "gguf_vocabulary.hpp"

namespace wkv {

const CommandSpec kTokenizeCommand{
    "tokenize",
    "Prints the token ids of a text.",
    "Prints the token ids of a text on one line, separated by spaces (BOS and EOS where the\n"
    "vocabulary adds them). Reads only the vocabulary: a GGUF model or a vocabulary-only GGUF, or -t.",
    {
        {"--model", "-m", "PATH", "a GGUF file with a vocabulary (model or vocabulary only), or any model with -t"},
        tokenizer_flag(),
        {"--prompt", "-p", "TEXT", "the text"},
        {"--file", "-f", "PATH", "read the text from a file instead"},
        {"--no-special", "", "", "add no BOS or EOS"},
        {"--pieces", "", "", "print a line per token instead: its id and the text it stands for"},
        {"--help", "-h", "", "show this help"},
    },
};

namespace {

// A piece as one printable line: quoted, with C escapes for what does not print.
std::string printable(const std::string& bytes) {
    std::string out = "'";
    for (char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (c == '\\' || c == '\'') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (b < 0x20 || b == 0x7F) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", b);
            out += hex;
        } else {
            out += c;  // UTF-8 passes through
        }
    }
    return out + "'";
}

}  // namespace

int run_tokenize(const Args& args) {
    const std::string model = args.required_text("--model");
    if (!args.has("--prompt") && !args.has("--file"))
        throw Error(std::string("tokenize: give the text with -p TEXT or -f FILE (one of them)"));
    const Tokenizer tokenizer = args.has("--tokenizer") ? Tokenizer::load(args.text("--tokenizer"))
                                                        : Tokenizer::from_vocabulary(load_gguf_vocabulary(model));
    const std::string text = prompt_text(args, "tokenize");
    const std::vector<int32_t> ids =
        args.has("--no-special") ? tokenizer.encode(text, /*add_bos=*/false) : tokenizer.encode_prompt(text);
    if (args.has("--pieces")) {
        int32_t prev = -1;  // (no BOS before the first: a piece prints as it is)
        for (int32_t id : ids) {
            std::printf("%d %s\n", id, printable(tokenizer.decode_piece(prev, id)).c_str());
            prev = id;
        }
        return 0;
    }
    for (size_t i = 0; i < ids.size(); i++) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
}

}  // namespace wkv
