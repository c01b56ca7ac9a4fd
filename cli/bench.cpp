// wkv bench: prompt and decode speed of one engine, and the memory bandwidth
// it achieves. Decoding reads every weight once per token plus the live KV
// entries, so bytes/token over seconds/token is the number to hold against
// the device's bandwidth. With --vs-cpu the CPU reference runs in the same
// invocation as the baseline, and the ratio is printed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

#include "commands.hpp"
#include "error.hpp"
#include "memory_plan.hpp"  // format_bytes
#include "output.hpp"
#include "profile_table.hpp"
#include "roofline.hpp"
#include "sampler.hpp"

namespace wkv {

const CommandSpec kBenchCommand{
    "bench",
    "Measures prefill and decode speed, and the memory bandwidth they reach.",
    "Measures prompt (prefill) and decode tokens/s and the achieved bandwidth (weights + live KV bytes\n"
    "read per token / time); each figure is the median of --reps runs.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            {"--n-prompt", "-p", "N", "prompt tokens, fed in chunks as generate feeds them (default 64)"},
            {"--n-predict", "-n", "N", "tokens to decode (default 128)"},
            {"--reps", "-r", "N", "runs; the median is reported (default 3)"},
            {"--json", "", "PATH", "also write the results as JSON"},
            {"--vs-cpu", "", "", "also run the CPU reference as a baseline and print the ratio"},
            {"--roofline", "", "", "also measure the device's copy bandwidth and the share of it decode reaches"},
            {"--profile", "", "",
             "print the device time of every shader in prefill and in decode to stderr (the first run; not with "
             "--cpu)"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags()),
};

namespace {

struct BenchResult {
    std::string device;
    double prefill_tok_s = 0, decode_tok_s = 0, decode_gb_s = 0;
    uint64_t weight_bytes = 0, kv_cache_bytes = 0;
    // Per decoded token, on a device: dispatches recorded, host time recording them, host time waiting.
    double dispatches = 0, record_ms = 0, wait_ms = 0;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

BenchResult bench_engine(Engine& e, const ModelConfig& c, const CacheSettings& cache, uint32_t n_prompt,
                         uint32_t n_predict, uint32_t reps, bool profile) {
    std::vector<double> prefill, decode, bandwidth, record_ms, wait_ms;
    BenchResult r;
    Sequence seq(e);
    r.device = e.device_name();
    r.weight_bytes = e.weight_bytes();
    r.kv_cache_bytes = e.kv_cache_bytes();
    auto prompt_token = [&](uint32_t p) { return p == 0 ? 1 : static_cast<int32_t>((p * 7919u) % c.vocab_size); };
    // The prompt as generate feeds it: every token but the last without logits, in chunks.
    std::vector<int32_t> prompt;
    for (uint32_t p = 0; p + 1 < n_prompt; p++) prompt.push_back(prompt_token(p));
    Sampler greedy({0.0f, 1.0f, 0});  // generate's decode loop at temperature 0
    // A warm-up, untimed (as llama-bench does): a device builds pipelines and descriptor sets when they are first used.
    seq.feed(prompt, 0);
    seq.next_token(prompt_token(static_cast<uint32_t>(prompt.size())), static_cast<uint32_t>(prompt.size()), greedy);
    if (profile) e.enable_profiling();  // timestamps cost time: the first run only
    for (uint32_t rep = 0; rep < reps; rep++, profile = false) {
        seq.reset();
        using clock = std::chrono::steady_clock;
        auto t0 = clock::now();
        seq.feed(prompt, 0);
        uint32_t pos = static_cast<uint32_t>(prompt.size());
        int32_t token = seq.next_token(prompt_token(pos), pos, greedy);
        pos++;
        auto t1 = clock::now();
        const HostCounters before = e.host_counters();
        const std::vector<ShaderTime> prefill_profile = profile ? e.profile() : std::vector<ShaderTime>{};
        // Bytes read per decode step: the weights a token reads, plus the keys and values of every live entry
        // of every layer (at most its slots: budget + 1 with a compressing policy, W in a sliding window).
        const auto entry_bytes = static_cast<double>(kv_layer_entry_bytes(c, cache.kv_type));
        const std::vector<uint32_t> slots = cache.layer_slots(c);
        double bytes = 0;
        for (uint32_t i = 0; i < n_predict; i++, pos++) {
            token = seq.next_token(token, pos, greedy);
            bytes += static_cast<double>(e.bytes_read_per_token());
            for (uint32_t layer_slots : slots) bytes += entry_bytes * std::min(pos + 1, layer_slots);
        }
        auto t2 = clock::now();
        if (profile && !prefill_profile.empty()) {  // (an engine that dispatches nothing has no profile)
            print_profile(prefill_profile, "prefill, " + std::to_string(n_prompt) + " tokens:");
            print_profile(profile_since(e.profile(), prefill_profile),
                          "decode, " + std::to_string(n_predict) + " tokens:");
        }
        const HostCounters after = e.host_counters();
        r.dispatches = static_cast<double>(after.dispatches - before.dispatches) / n_predict;  // the same every run
        record_ms.push_back((after.record_seconds - before.record_seconds) * 1e3 / n_predict);
        wait_ms.push_back((after.wait_seconds - before.wait_seconds) * 1e3 / n_predict);
        const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
        const double decode_s = std::chrono::duration<double>(t2 - t1).count();
        prefill.push_back(n_prompt / prefill_s);
        decode.push_back(n_predict / decode_s);
        bandwidth.push_back(bytes / decode_s / 1e9);
    }
    r.prefill_tok_s = median(prefill);
    r.decode_tok_s = median(decode);
    r.decode_gb_s = median(bandwidth);
    r.record_ms = median(record_ms);
    r.wait_ms = median(wait_ms);
    return r;
}

void print(const BenchResult& r) {
    std::printf("%-36s prefill %9.1f tok/s   decode %9.1f tok/s   %8.3f GB/s   weights %.1f MiB   KV cache %.2f MiB\n",
                r.device.c_str(), r.prefill_tok_s, r.decode_tok_s, r.decode_gb_s, r.weight_bytes / 1048576.0,
                r.kv_cache_bytes / 1048576.0);
    if (r.dispatches > 0) {
        std::printf(
            "%-36s per decoded token: %.0f dispatches, host %.3f ms recording and %.3f ms waiting for the device\n", "",
            r.dispatches, r.record_ms, r.wait_ms);
    }
}

nlohmann::json json_record(const BenchResult& r) {
    return {{"device", r.device},
            {"prefill_tok_s", r.prefill_tok_s},
            {"decode_tok_s", r.decode_tok_s},
            {"decode_gb_s", r.decode_gb_s},
            {"weight_bytes", r.weight_bytes},
            {"kv_cache_bytes", r.kv_cache_bytes},
            {"dispatches_per_token", r.dispatches},
            {"record_ms_per_token", r.record_ms},
            {"wait_ms_per_token", r.wait_ms}};
}

}  // namespace

int run_bench(const Args& args) {
    std::optional<OutputFile> json_out;  // checked now, written at the end
    if (args.has("--json")) json_out.emplace(args.required_text("--json"), "--json");
    const Model model = load_model(model_path(args));
    const auto n_prompt = static_cast<uint32_t>(args.integer("--n-prompt", 64, 1, 1 << 20));
    const auto n_predict = static_cast<uint32_t>(args.integer("--n-predict", 128, 1, 1 << 20));
    const auto reps = static_cast<uint32_t>(args.integer("--reps", 3, 1, 1000));
    const CacheSettings cache = cache_settings(args, model.config);
    if (!cache.policy.compresses() && n_prompt + n_predict > cache.policy.budget) {
        throw Error("bench: -p " + std::to_string(n_prompt) + " plus -n " + std::to_string(n_predict) +
                    " exceed the full cache of " + std::to_string(cache.policy.budget) + " entries");
    }
    std::printf("model %s: %s, %s weights; cache %s\n", model.path.c_str(), describe(model.config).c_str(),
                tensor_type_name(model.layers[0].wq.type), describe(cache.policy).c_str());
    const BenchResult main = bench_engine(*make_engine(args, model, {cache}).engine, model.config, cache, n_prompt,
                                          n_predict, reps, args.has("--profile"));
    print(main);
    nlohmann::json json = {{"model", model.path},
                           {"n_prompt", n_prompt},
                           {"n_predict", n_predict},
                           {"reps", reps},
                           {"result", json_record(main)}};
    if (args.has("--vs-cpu") && !args.has("--cpu")) {
        const BenchResult cpu = bench_engine(*open_engine(model, {cache}, EngineChoice{true, {}}).engine, model.config,
                                             cache, n_prompt, n_predict, reps, false);
        print(cpu);
        std::printf("ratio vs CPU reference: prefill %.2fx, decode %.2fx\n", main.prefill_tok_s / cpu.prefill_tok_s,
                    main.decode_tok_s / cpu.decode_tok_s);
        json["cpu_reference"] = json_record(cpu);
    }
    if (args.has("--roofline") && !args.has("--cpu")) {
        Context ctx(context_options(args));
        const CopyBandwidth copy = measure_copy_bandwidth(ctx);
        std::printf("roofline: a copy kernel moves %.3f GB/s (%s copied); decode reaches %.1f%% of it\n", copy.gb_s,
                    format_bytes(copy.bytes).c_str(), 100.0 * main.decode_gb_s / copy.gb_s);
        json["copy_gb_s"] = copy.gb_s;
        json["decode_share_of_copy"] = main.decode_gb_s / copy.gb_s;
    }
    if (json_out) json_out->write(json);
    return 0;
}

}  // namespace wkv
