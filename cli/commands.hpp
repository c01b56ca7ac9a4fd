// The `wkv` subcommands. Each returns the process exit code and throws
// wkv::Error for anything the user must fix.
#pragma once

#include <string>
#include <vector>

#include "args.hpp"
#include "model.hpp"
#include "tokenizer.hpp"

namespace wkv {

extern const CommandSpec kGenerateCommand;
int run_generate(const Args& args);

// The tokenizer given by -t, else the one embedded in a GGUF model; checked
// against the model's vocabulary size.
Tokenizer tokenizer_for(const Model& model, const std::string& tokenizer_path);

}  // namespace wkv
