// Which engine runs a model: the Vulkan device (default; --device N picks one)
// or the CPU reference (--cpu).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>

#include "commands.hpp"
#include "engine.hpp"
#include "error.hpp"
#include "hub_pull.hpp"
#include "mapped_file.hpp"
#include "progress.hpp"
#include "runtime/engine_factory.hpp"

namespace wkv {

std::vector<FlagSpec> sampling_flags() {
    return {
        {"--temp", "", "T", "sampling temperature, 0 = greedy (default 1.0)"},
        {"--top-p", "", "P", "nucleus sampling mass in (0, 1] (default 0.9)"},
        {"--seed", "", "S", "random seed (default: random, printed on stderr)"},
    };
}

SamplerSettings sampler_settings(const Args& args) {
    SamplerSettings s;
    s.temperature = static_cast<float>(args.number("--temp", 1.0, 0.0, 100.0));
    s.top_p = static_cast<float>(args.number("--top-p", 0.9, 1e-6, 1.0));
    s.seed = args.has("--seed") ? args.unsigned_integer("--seed", 0) : random_seed();
    return s;
}

void print_random_seed(const Args& args, const SamplerSettings& s) {
    if (!args.has("--seed") && s.temperature > 0.0f)
        std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(s.seed));
}

int64_t request_token_cap(const Args& args) {
    return args.integer("--max-tokens-per-request", 32768, 0, int64_t{1} << 40);
}

void check_request_tokens(int64_t cap, int64_t tokens, const std::string& what) {
    if (cap && tokens > cap) {
        throw Error(what + " has " + std::to_string(tokens) + " tokens, more than --max-tokens-per-request " +
                    std::to_string(cap) + " (0 lifts the cap)");
    }
}

std::string prompt_text(const Args& args, const std::string& command) {
    if (args.has("--prompt") && args.has("--file"))
        throw Error(command + ": -p and -f both give the text; give one of them");
    if (!args.has("--file")) return args.text("--prompt");
    const std::string path = args.required_text("--file");
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec) && std::filesystem::file_size(path, ec) == 0 && !ec)
        return "";  // an empty prompt, as -p "" (a mapping cannot be empty)
    const MappedFile file(path);
    return std::string(reinterpret_cast<const char*>(file.data()), file.size());
}

std::string model_path(const Args& args) {
    if (args.has("--hf-repo") && args.has("--model"))
        throw Error(std::string("-m and -hf both name the model; give one of them"));
    if (args.has("--hf-file") && !args.has("--hf-repo")) throw Error(std::string("--hf-file goes with -hf"));
    if (args.has("--hf-repo")) return hub_model_path(args.required_text("--hf-repo"), args.text("--hf-file"));
    return args.required_text("--model");
}

ContextOptions context_options(const Args& args) {
    ContextOptions options;
    if (args.has("--device")) options.device_index = static_cast<uint32_t>(args.integer("--device", 0, 0, 255));
    return options;
}

OpenEngine make_engine(const Args& args, const Model& model, std::vector<CacheSettings> sequences, GpuOptions options) {
    EngineChoice choice;
    choice.cpu = args.has("--cpu");
    if (choice.cpu && args.has("--device")) throw Error(std::string("--cpu and --device exclude each other"));
    choice.device = context_options(args);
    std::optional<Progress> progress;
    if (!choice.cpu) {
        progress.emplace("loading " + model.path, "MiB", model.weight_bytes(), /*lines_when_piped=*/false, 1048576.0);
        options.upload_progress = [&](uint64_t done, uint64_t) { progress->set(done); };
    }
    return open_engine(model, std::move(sequences), choice, options);
}

}  // namespace wkv
