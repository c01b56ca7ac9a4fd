// The `wkv` subcommands. Each returns the process exit code and throws
// wkv::Error for anything the user must fix.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "args.hpp"
#include "cache_flags.hpp"
#include "chat_template.hpp"
#include "context.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "policy.hpp"
#include "runtime/engine_factory.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"

namespace wkv {

extern const CommandSpec kGenerateCommand;
int run_generate(const Args& args);
extern const CommandSpec kDevicesCommand;
int run_devices(const Args& args);
extern const CommandSpec kBenchCommand;
int run_bench(const Args& args);
extern const CommandSpec kInfoCommand;
int run_info(const Args& args);
extern const CommandSpec kConformanceCommand;
int run_conformance_command(const Args& args);
extern const CommandSpec kTokenizeCommand;
int run_tokenize(const Args& args);
extern const CommandSpec kNeedleCommand;
int run_needle(const Args& args);
extern const CommandSpec kPullCommand;
int run_pull(const Args& args);

// The flags every command that runs a model shares. Functions, not globals:
// command tables in other files copy them during static initialisation.
inline FlagSpec device_flag() {
    return {"--device", "", "N", "Vulkan device index from 'wkv devices' (default: the first discrete GPU, else any)"};
}
inline FlagSpec cpu_flag() { return {"--cpu", "", "", "run on the CPU reference instead of Vulkan"}; }
inline FlagSpec model_flag() {
    return {"--model", "-m", "PATH",
            "model file: GGUF (weights " + weight_type_list() + ") or llama2.c .bin (v0 f32, v2 q8)"};
}
inline FlagSpec hf_repo_flag() {
    return {"--hf-repo", "-hf", "USER/REPO[:QUANT]",
            "instead of -m: a GGUF of that Hugging Face repository, from the Hub's cache, else downloaded as by wkv "
            "pull (the file with QUANT in its name; default Q4_K_M, else the smallest)"};
}
inline FlagSpec hf_file_flag() { return {"--hf-file", "", "NAME", "with -hf: the repository's file of that name"}; }
// The model file: -m's, or the one -hf names in the Hub's cache, pulled if absent (cli/hub_pull.hpp).
std::string model_path(const Args& args);
inline FlagSpec tokenizer_flag() {
    return {"--tokenizer", "-t", "PATH", "sentencepiece .model or llama2.c tokenizer.bin (default: the GGUF's own)"};
}

// --max-tokens-per-request: the most tokens one request (a prompt, a chat message) may
// bring, and the most one reply may generate. A guard against an input that would run
// silently for hours; 0 lifts it.
inline FlagSpec request_cap_flag() {
    return {"--max-tokens-per-request", "", "N",
            "the most tokens one prompt or message may have, and the most one reply may generate (default 32768; 0: no "
            "cap)"};
}
// The cap --max-tokens-per-request sets (0: none).
int64_t request_token_cap(const Args& args);
// Throws a usage error naming the flag if `what` has more than the cap's `tokens`.
void check_request_tokens(int64_t cap, int64_t tokens, const std::string& what);

// The text of -p TEXT, or of the file -f PATH names ("" when neither is given); both is an error.
std::string prompt_text(const Args& args, const std::string& command);

extern const CommandSpec kPplCommand;
int run_ppl(const Args& args);

// --temp, --top-p, --seed; and the settings they ask for (a random seed is printed on stderr).
std::vector<FlagSpec> sampling_flags();
SamplerSettings sampler_settings(const Args& args);
// "seed: N" on stderr when the seed was drawn at random (so a run can be repeated);
// printed once the run is set up, so that an error before it stays one line.
void print_random_seed(const Args& args, const SamplerSettings& settings);

extern const CommandSpec kChatCommand;
int run_chat(const Args& args);
extern const CommandSpec kServeCommand;
int run_serve(const Args& args);
// The chat template --chat-template names, else the one the GGUF's tokenizer.chat_template is.
ChatFamily chat_family(const Args& args, const Model& model);

// The Vulkan device --device asks for.
ContextOptions context_options(const Args& args);

// The engine --cpu or --device asks for, with one sequence per CacheSettings,
// and the Vulkan context it runs on (none for --cpu); a device engine's weight
// upload shows a progress bar.
OpenEngine make_engine(const Args& args, const Model& model, std::vector<CacheSettings> sequences,
                       GpuOptions options = {});

}  // namespace wkv
