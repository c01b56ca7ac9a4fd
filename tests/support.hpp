// Helpers shared by the test suites: where ../shared is, temporary files,
// running the wkv binary, and reading files.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "policy.hpp"
#include "runtime/context.hpp"
#include "runtime/engine_factory.hpp"
#include "tensor_roles.hpp"

namespace wkv::test {

// Reference files in ../shared and the output of `wkv ... --json`.
using Json = nlohmann::json;
inline Json parse_json(const std::string& text) { return Json::parse(text); }

// Path of a file under ../shared (or $WKV_SHARED). Fails the test loudly,
// never skips, when the file is missing: CI must have the real data.
std::string shared_file(const std::string& relative);
Json shared_json(const std::string& relative);
// A JSON array of token ids.
std::vector<int32_t> to_ids(const Json& array);

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);
std::vector<uint8_t> read_bytes(const std::string& path);

// A fresh folder for this test process, removed at exit.
std::filesystem::path temp_dir();

struct RunResult {
    int exit_code = -1;
    std::string out;              // stdout
    std::string err;              // stderr
    uint64_t peak_rss_bytes = 0;  // its largest resident set, from run_wkv_measuring_memory
};
// Runs the wkv binary under test with these arguments (no shell parsing of them).
RunResult run_wkv(const std::vector<std::string>& args);
// Several runs at once (each its own process), their results in order.
std::vector<RunResult> run_wkv_parallel(const std::vector<std::vector<std::string>>& runs);
// The same, watching the process's peak resident set (VmHWM) while it runs.
RunResult run_wkv_measuring_memory(const std::vector<std::string>& args);
// The same with these environment variables set for it.
RunResult run_wkv_with_env(const std::vector<std::string>& args,
                           const std::vector<std::pair<std::string, std::string>>& env);
// The same with files limited to `max_file_bytes` (RLIMIT_FSIZE): a full disk, as a process sees it.
RunResult run_wkv_with_file_limit(const std::vector<std::string>& args, uint64_t max_file_bytes);
// The same, sending SIGINT after `interrupt_after_ms` (as a user's Ctrl-C).
RunResult run_wkv_interrupted(const std::vector<std::string>& args, int interrupt_after_ms);

// wkv serve running in the background on a free port of 127.0.0.1, stopped
// (SIGINT) when this goes out of scope.
class ServerProcess {
public:
    // args after "serve"; `env`: variables set for it
    explicit ServerProcess(std::vector<std::string> args,
                           const std::vector<std::pair<std::string, std::string>>& env = {});
    ~ServerProcess();
    int port() const { return port_; }
    int pid() const { return pid_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    RunResult stop(int signal = 2);  // SIGINT (or `signal`), then its exit code and output

private:
    int pid_ = -1;
    int port_ = 0;
    std::string out_, err_;
    bool stopped_ = false;
    RunResult result_;
};

// `COMMAND -m stories260K.bin -t tok512.bin`, then `more` (no command when it is "").
std::vector<std::string> stories_args(const std::string& command, std::initializer_list<std::string> more);

// The arguments after "serve" for stories260K with the Llama 2 template and WeightedKV at budget 64, then `more`.
std::vector<std::string> stories_server(std::initializer_list<std::string> more = {});

// Checks a failed run: exit `code`, nothing on stdout, exactly one line "wkv: ..." on stderr containing `contains`.
void check_one_line_error(const RunResult& r, int code, const std::string& contains);

// Runs wkv with `input` as its standard input.
RunResult run_wkv_with_input(const std::vector<std::string>& args, const std::string& input);

// One Vulkan context for the whole test process, with the validation layer on.
Context& validated_context();

// The worst |engine - reference| / max|reference logit| over `tokens` fed from position 0, row
// by row of `logits` (llama.cpp's, in a record of ../shared). `engine`: a Reference or a Sequence.
double worst_logit_error(auto& engine, const std::vector<int32_t>& tokens, const Json& logits) {
    double worst = 0;
    for (uint32_t pos = 0; pos < tokens.size(); pos++) {
        const std::vector<float> got = engine.forward(tokens[pos], pos);
        const std::vector<double> want = logits.at(pos).get<std::vector<double>>();
        if (got.size() != want.size()) return INFINITY;
        double scale = 0, err = 0;
        for (size_t i = 0; i < want.size(); i++) {
            scale = std::max(scale, std::fabs(want[i]));
            err = std::max(err, std::fabs(got[i] - want[i]));
        }
        worst = std::max(worst, err / scale);
    }
    return worst;
}

// A GPU engine of one sequence, driven through that sequence's calls (the
// engine is built first, so it lives as long as the view).
struct OwnedGpuEngine {
    std::unique_ptr<BatchEngine> owned;
};
class GpuSequence : private OwnedGpuEngine, public Sequence {
public:
    GpuSequence(Context& ctx, const Model& model, const CacheSettings& settings, GpuOptions options = {})
        : OwnedGpuEngine{make_gpu_engine(ctx, model, {settings}, std::move(options))}, Sequence(*owned) {}
    // A full cache of `entries`.
    GpuSequence(Context& ctx, const Model& model, uint32_t entries, PositionMode positions = PositionMode::cache_index,
                GpuOptions options = {})
        : GpuSequence(ctx, model, full_cache(entries, positions), std::move(options)) {}
    BatchEngine& batch() { return *owned; }
    const KvCacheRing& cache() const { return owned->cache(0); }
};
// Fails the current test if the validation layer has reported anything so far.
void check_no_validation_messages();

// A seeded random Llama model written to a temporary GGUF and loaded.
Model random_model(const std::string& name, const ModelConfig& config, uint64_t seed);
// The small GQA configuration the policy and perplexity tests use.
ModelConfig small_gqa_config(uint32_t vocab, uint32_t context);
// One layer of attention only, for hand-built cache states: dim = n_heads * head_dim.
ModelConfig one_layer_config(uint32_t n_heads, uint32_t n_kv_heads, uint32_t dim);
// The same cache capacity in every layer (what KvCacheRing::bytes_for and its kin take).
// How far a GPU result may be from the CPU's when keys and values are stored as
// `type`: `f32` for an f32 cache. Where the two sides' f32 keys or values (equal up
// to float rounding) straddle a rounding boundary of the stored type, one stored
// value moves by a step of it, and what is computed from it with it: an f16 ulp is
// 2^-11 relative, a q8_0 step max|block| / 127, a q4_0 step max|block| / 8 (and a
// flipped largest value changes every code of its block). Given equal inputs the
// shaders store exactly the CPU's rows (`wkv conformance`, bit for bit).
inline double stored_type_tolerance(KvType type, double f32) {
    switch (type) {
        case KvType::f32: return f32;
        case KvType::f16: return 1e-3;
        case KvType::q8_0: return 2e-2;
        case KvType::q4_0: return 2e-1;
    }
    return 0;
}

// Greedy decoding by two engines of the same sequences, all of them each step from
// position `from` until `end`, every sequence starting from `token`: REQUIREs that
// both pick the same token every time.
void decode_in_lockstep(Engine& cpu, Engine& gpu, const std::vector<CacheSettings>& settings, int32_t token,
                        uint32_t from, uint32_t end);

inline std::vector<uint32_t> every_layer(const ModelConfig& config, uint32_t capacity) {
    return std::vector<uint32_t>(config.n_layers, capacity);
}

// Every policy of the policy table that compresses (all but the full cache).
std::vector<PolicyKind> compressing_policies();

// First lines of each corpus document, for tokenizer round trips.
std::vector<std::string> corpus_samples(size_t bytes_per_document);

}  // namespace wkv::test
