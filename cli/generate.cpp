// wkv generate: text from a prompt, streamed to stdout as it is produced.
// stdout carries only the generated text (not the prompt); everything else
// goes to stderr, whose last line is the stats line.
#include <cstdio>
#include <optional>

#include "cache_trace.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "generation.hpp"
#include "process_memory.hpp"
#include "progress.hpp"

namespace wkv {

const CommandSpec kGenerateCommand{
    "generate",
    "Generates text from a prompt and streams it to stdout.",
    "Generates text from a prompt and streams it to stdout. The last line on stderr is\n"
    "'stats: tokens=N tok_per_s=X kv_cache_bytes=B'.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            tokenizer_flag(),
            {"--prompt", "-p", "TEXT", "prompt text (default: empty, generation starts from BOS)"},
            {"--file", "-f", "PATH", "read the prompt from a file instead"},
            {"--n-predict", "-n", "N", "tokens to generate (default 256)"},
            {"--ignore-eos", "", "", "go on through end-of-text tokens until -n tokens are generated"},
            request_cap_flag(),
            {"--stats-every", "", "N",
             "every N tokens, a line on stderr: 'memory: tokens=N kv_bytes_in_use=K resident_bytes=R device_bytes=D'"},
            {"--trace", "", "FILE.jsonl",
             "write an eviction trace: per token and layer, what each KV head evicted and merged (slow: the cache is "
             "read back every token)"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        join_flags(sampling_flags(), cache_flags())),
};

int run_generate(const Args& args) {
    std::optional<CacheTrace> trace;  // the path checked now, written at the end
    if (args.has("--trace")) trace.emplace(args.required_text("--trace"));
    const Model model = load_model(model_path(args));
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    const ModelConfig& c = model.config;

    const std::vector<int32_t> prompt = tokenizer.encode_prompt(prompt_text(args, "generate"));
    if (prompt.empty())
        throw Error(std::string("generate: the model's tokenizer adds no BOS, so the prompt may not be empty"));
    const int64_t n_predict = args.integer("--n-predict", 256, 0, int64_t{1} << 40);
    const int64_t cap = request_token_cap(args);
    check_request_tokens(cap, static_cast<int64_t>(prompt.size()), "generate: the prompt");
    check_request_tokens(cap, n_predict, "generate: -n");
    const CacheSettings cache = cache_settings(args, c);
    const int64_t total = static_cast<int64_t>(prompt.size()) + n_predict;
    if (!cache.policy.compresses() && total > cache.policy.budget) {
        throw Error("generate: the prompt's " + std::to_string(prompt.size()) + " tokens plus -n " +
                    std::to_string(n_predict) + " exceed the full KV cache of " + std::to_string(cache.policy.budget) +
                    " entries (--budget, at most the model's context " + std::to_string(c.context) +
                    "; a compressing --policy has no such limit)");
    }
    if (cache.positions == PositionMode::original && total > c.context) {
        throw Error("generate: original positions past the model's context of " + std::to_string(c.context) +
                    " are not supported; --positions cache keeps them inside it");
    }

    const SamplerSettings settings = sampler_settings(args);
    const int64_t stats_every = args.integer("--stats-every", 0, 0, 1 << 24);

    OpenEngine handle = make_engine(args, model, {cache});
    print_random_seed(args, settings);

    std::optional<TracedEngine> traced;
    if (trace) traced.emplace(*handle.engine, *trace, nlohmann::json{{"policy", describe(cache.policy)}});
    Generator generator(traced ? static_cast<Engine&>(*traced) : *handle.engine, tokenizer, settings);
    if (args.has("--ignore-eos")) generator.ignore_end_of_text();
    {
        Progress progress("prompt", "tokens", prompt.size(), /*lines_when_piped=*/true);
        generator.append(prompt, [&](size_t fed) { progress.set(fed); });
    }
    int64_t produced = 0;
    generator.generate(n_predict, [&](std::string_view piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        if (stats_every && ++produced % stats_every == 0) {
            std::fprintf(
                stderr, "\nmemory: tokens=%lld kv_bytes_in_use=%llu resident_bytes=%llu device_bytes=%llu\n",
                static_cast<long long>(produced), static_cast<unsigned long long>(handle.engine->kv_bytes_held(0)),
                static_cast<unsigned long long>(resident_bytes()),
                static_cast<unsigned long long>(handle.context ? handle.context->device_bytes_allocated() : 0));
        }
        return true;
    });
    const GenerationStats& stats = generator.stats();
    std::fprintf(stderr, "\nstats: tokens=%lld tok_per_s=%.2f kv_cache_bytes=%llu\n",
                 static_cast<long long>(stats.tokens), stats.tokens_per_second(),
                 static_cast<unsigned long long>(handle.engine->kv_cache_bytes()));
    if (trace) trace->write();
    return 0;
}

}  // namespace wkv
