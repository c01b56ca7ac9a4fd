// Command-line flags: the input is split at NUL bytes into words, the first
// byte picks a command; the words are parsed with that command's flags, then
// turned into what the command would run with (cache settings, sampling, the
// typed getters, a Hub reference), on a fixed model shape. Bad flags must be wkv::Errors.
#include <string>
#include <vector>

#include "commands.hpp"
#include "fuzz_input.hpp"
#include "hub_cache.hpp"

namespace {

const wkv::CommandSpec* const kCommands[] = {
    &wkv::kGenerateCommand, &wkv::kChatCommand,  &wkv::kServeCommand,       &wkv::kInfoCommand, &wkv::kDevicesCommand,
    &wkv::kPplCommand,      &wkv::kBenchCommand, &wkv::kConformanceCommand, &wkv::kPullCommand, &wkv::kNeedleCommand};

bool offers(const wkv::CommandSpec& c, const std::string& flag) {
    for (const wkv::FlagSpec& f : c.flags) {
        if (f.long_name == flag) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const wkv::CommandSpec& command = *kCommands[data[0] % std::size(kCommands)];
    std::vector<std::string> words(1);
    for (size_t i = 1; i < size; i++) {
        if (data[i] == 0)
            words.emplace_back();
        else
            words.back() += static_cast<char>(data[i]);
    }
    if (words.size() == 1 && words[0].empty()) words.clear();

    wkv::ModelConfig config;
    config.dim = 64, config.hidden_dim = 128, config.n_layers = 2, config.n_heads = 4, config.n_kv_heads = 2;
    config.vocab_size = 512, config.context = 256;
    wkv::fuzz::expect_only_errors([&] {
        const wkv::Args args(command, words);
        if (offers(command, "--policy")) {
            if (command.name == "ppl")
                (void)wkv::cache_settings_list(args, config, 128);
            else
                (void)wkv::cache_settings(args, config);
        }
        if (offers(command, "--temp")) (void)wkv::sampler_settings(args);
        if (args.has("--hf-repo")) (void)wkv::parse_hub_reference(args.text("--hf-repo"));
        for (const wkv::FlagSpec& f : command.flags) {
            if (f.value_name == "N") (void)args.integer(f.long_name, 0, -(int64_t{1} << 40), int64_t{1} << 40);
        }
    });
    return 0;
}
