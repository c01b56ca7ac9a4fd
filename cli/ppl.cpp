// wkv ppl: streaming sliding-window perplexity under every cache policy asked
// for (spec §3), per file and over all files together.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "cache_trace.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "mapped_file.hpp"
#include "output.hpp"
#include "perplexity.hpp"
#include "profile_table.hpp"
#include "progress.hpp"
#include "runtime/kernels.hpp"
#include "runtime/kv_cache_ring.hpp"

namespace wkv {

const CommandSpec kPplCommand{
    "ppl",
    "Measures perplexity on a text with the cache policies and budgets given.",
    "Streaming perplexity: sliding windows of --ctx tokens every --stride tokens, a fresh cache per\n"
    "window, tokens fed one at a time through the cache, every token scored once. Prints a table\n"
    "(rows: K/V type x policy x budget; columns: files, all files, scored tokens). Ctrl-C prints what completed.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            tokenizer_flag(),
            {"--file", "-f", "PATH", "a UTF-8 document; repeat for several", true},
            {"--ctx", "", "L", "window length in tokens"},
            {"--stride", "", "S",
             "window stride in tokens, at most L (default L/2; with S = L a window's first token is not scored)"},
            {"--max-tokens", "", "N", "use only the first N tokens of each document (BOS included)"},
            {"--lanes", "", "N",
             "windows evaluated side by side, from any file, each under every setting (default: enough for 16 "
             "sequences, within 1 GiB of KV cache)"},
            {"--json", "", "PATH", "also write one record per (K/V type, policy, budget, file) as JSON"},
            {"--profile", "", "",
             "print the device time of every shader to stderr at the end (timestamp queries; not with --cpu), and "
             "the mean norm of the cached values at each window's end"},
            {"--trace", "", "FILE.jsonl",
             "write an eviction trace of one window per document (every setting): per step and layer, what each KV "
             "head evicted and merged"},
            {"--trace-window", "", "K", "the window the trace follows (default 0, the first)"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags(/*lists=*/true)),
};

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted = true; }

struct Document {
    std::string path;
    std::vector<int32_t> tokens;
    std::vector<Window> windows;
    uint64_t fed = 0;  // tokens one evaluation feeds (for progress)
};

struct Cell {  // one (setting, file)
    NllSum sum;
    double wall_s = 0;
    bool done = false;
    // The caches at each window's end, summed over windows.
    EvictionCounts evicted;
    double value_norm = 0;  // mean |V| of the entries held
    uint64_t windows = 0;
};

double merge_rate(const EvictionCounts& e) {
    return e.evictions ? static_cast<double>(e.merges) / static_cast<double>(e.evictions) : 0.0;
}

// What the policies did to the caches, over all files: evictions, the share
// of them that merged first, and (with_norm) the mean norm of the cached values.
void print_cache_table(const std::vector<CacheSettings>& grid, const std::vector<std::vector<Cell>>& cells,
                       bool with_norm) {
    std::printf("\ncache at each window's end, all files\n%-12s %7s %-9s %12s %11s%s\n", "policy", "budget", "K/V",
                "evictions", "merge rate", with_norm ? "   mean |V|" : "");
    for (size_t s = 0; s < grid.size(); s++) {
        EvictionCounts all;
        double norm = 0;
        uint64_t windows = 0;
        for (const Cell& c : cells[s]) {
            all.evictions += c.evicted.evictions;
            all.merges += c.evicted.merges;
            norm += c.value_norm;
            windows += c.windows;
        }
        std::printf("%-12s %7u %-9s %12llu %10.1f%%", policy_name(grid[s].policy.kind), grid[s].policy.budget,
                    kv_types_name(grid[s].kv_type).c_str(), static_cast<unsigned long long>(all.evictions),
                    100.0 * merge_rate(all));
        if (with_norm) std::printf(" %10.4f", windows ? norm / static_cast<double>(windows) : 0.0);
        std::printf("\n");
    }
}

std::vector<CacheSettings> settings_grid(const Args& args, const ModelConfig& c, uint32_t window) {
    // The full cache holds a whole window, and only within the trained context.
    for (const std::string& name : args.list("--policy", "full")) {
        if (name == policy_name(PolicyKind::full) && window > c.context) {
            throw Error("--policy full with --ctx " + std::to_string(window) +
                        " is refused: the model was trained on " + std::to_string(c.context) +
                        " tokens (only compressing policies run longer windows)");
        }
    }
    return cache_settings_list(args, c, window);
}

// Lanes of the batch: as asked, or enough to fill one matvec dispatch
// (Kernels::kMaxBatch sequences) within kLaneMemory of KV cache; never more than there are windows.
uint32_t lane_count(std::optional<uint32_t> asked, const std::vector<CacheSettings>& grid, const ModelConfig& c,
                    size_t windows) {
    constexpr uint64_t kLaneMemory = uint64_t{1} << 30;
    uint64_t lanes = 0;
    if (asked) {
        lanes = *asked;
    } else {
        uint64_t lane_bytes = 0;
        for (const CacheSettings& s : grid) lane_bytes += KvCacheRing::bytes_for(c, s.layer_slots(c), s.kv_type);
        lanes = std::min<uint64_t>(Kernels::kMaxBatch / grid.size(), kLaneMemory / std::max<uint64_t>(lane_bytes, 1));
    }
    return static_cast<uint32_t>(std::max<uint64_t>(1, std::min<uint64_t>(lanes, windows)));
}

// The K/V types of the grid's lanes: "f16", or "f16,q8_0" when they differ.
std::string kv_types_label(const std::vector<CacheSettings>& grid) {
    std::vector<std::string> names;
    for (const CacheSettings& s : grid) {
        const std::string name = kv_types_name(s.kv_type);
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
    return out.empty() ? "f16" : out;
}

std::string format_ppl(const NllSum& s) {
    if (!s.scored) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s.perplexity());
    return buf;
}

void print_table(const std::vector<CacheSettings>& grid, const std::vector<Document>& docs,
                 const std::vector<std::vector<Cell>>& cells, bool partial) {
    std::printf("\n%-12s %7s %-9s", "policy", "budget", "K/V");
    for (const Document& d : docs) std::printf(" %14.14s", std::filesystem::path(d.path).stem().c_str());
    std::printf(" %14s %10s\n", "all", "scored");
    for (size_t s = 0; s < grid.size(); s++) {
        std::printf("%-12s %7u %-9s", policy_name(grid[s].policy.kind), grid[s].policy.budget,
                    kv_types_name(grid[s].kv_type).c_str());
        NllSum all;
        bool complete = true;
        for (size_t f = 0; f < docs.size(); f++) {
            const Cell& cell = cells[s][f];
            std::printf(" %14s", cell.done ? format_ppl(cell.sum).c_str() : "...");
            if (cell.done) all += cell.sum;
            complete = complete && cell.done;
        }
        std::printf(" %14s %10llu\n", complete ? format_ppl(all).c_str() : "...",
                    static_cast<unsigned long long>(all.scored));
    }
    if (partial) std::printf("(interrupted: '...' marks what did not complete)\n");
}

void write_json(const OutputFile& out, const Args& args, const std::string& device, uint32_t window, uint32_t stride,
                uint32_t lanes, const std::vector<CacheSettings>& grid, const std::vector<Document>& docs,
                const std::vector<std::vector<Cell>>& cells, double wall_s, bool interrupted) {
    nlohmann::json files = nlohmann::json::array();
    for (const Document& doc : docs) files.push_back({{"path", doc.path}, {"tokens", doc.tokens.size()}});
    nlohmann::json results = nlohmann::json::array();
    for (size_t s = 0; s < grid.size(); s++) {
        for (size_t f = 0; f < docs.size(); f++) {
            const Cell& c = cells[s][f];
            if (!c.done) continue;
            const CachePolicy& p = grid[s].policy;
            results.push_back({{"policy", policy_name(p.kind)},
                               {"budget", p.budget},
                               {"sinks", p.sinks},
                               {"recent", p.recent},
                               {"kv_type", kv_types_name(grid[s].kv_type)},
                               {"file", docs[f].path},
                               {"tokens", c.sum.scored},
                               {"total_nll", c.sum.total_nll},
                               {"perplexity", c.sum.scored ? nlohmann::json(c.sum.perplexity()) : nlohmann::json()},
                               {"evictions", c.evicted.evictions},
                               {"merges", c.evicted.merges},
                               {"merge_rate", merge_rate(c.evicted)},
                               {"mean_value_norm", c.windows ? c.value_norm / static_cast<double>(c.windows) : 0.0},
                               {"wall_s", c.wall_s}});
        }
    }
    const bool cache_positions = grid.empty() || grid[0].positions == PositionMode::cache_index;
    out.write({{"model", args.has("--hf-repo") ? args.text("--hf-repo") : args.text("--model")},
               {"device", device},
               {"window", window},
               {"stride", stride},
               {"positions", cache_positions ? "cache" : "original"},
               {"kv_type", kv_types_label(grid)},
               {"lanes", lanes},
               {"wall_s", wall_s},
               {"interrupted", interrupted},
               {"files", files},
               {"results", results}});
}

}  // namespace

int run_ppl(const Args& args) {
    std::optional<OutputFile> json_out;  // checked now, written at the end
    if (args.has("--json")) json_out.emplace(args.required_text("--json"), "--json");
    std::optional<CacheTrace> trace;  // the same
    if (args.has("--trace")) trace.emplace(args.required_text("--trace"));
    if (args.has("--trace-window") && !trace) throw Error(std::string("--trace-window needs --trace FILE"));
    const auto trace_window = static_cast<size_t>(args.integer("--trace-window", 0, 0, 1 << 24));
    const Model model = load_model(model_path(args));
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    const std::vector<std::string> files = args.texts("--file");
    if (files.empty()) throw Error(std::string("ppl: give at least one document with -f"));
    if (!args.has("--ctx")) throw Error(std::string("ppl: --ctx L (the window length) is required"));
    const auto window = static_cast<uint32_t>(args.integer("--ctx", 0, 2, 1 << 20));
    const auto stride = static_cast<uint32_t>(args.integer("--stride", std::max<uint32_t>(window / 2, 1), 1, window));
    const int64_t max_tokens = args.integer("--max-tokens", 0, 2, 1ll << 31);
    if (args.has("--cpu") && args.has("--profile"))
        throw Error(std::string("--profile does not apply with --cpu (nothing is dispatched)"));
    std::optional<uint32_t> lanes_asked;
    if (args.has("--lanes")) lanes_asked = static_cast<uint32_t>(args.integer("--lanes", 1, 1, 256));
    const std::vector<CacheSettings> grid = settings_grid(args, model.config, window);

    std::vector<Document> docs;
    uint64_t total = 0;
    for (const std::string& path : files) {
        const MappedFile file(path);
        Document d;
        d.path = path;
        d.tokens = document_tokens(tokenizer, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()),
                                   static_cast<uint64_t>(max_tokens));
        d.windows = plan_windows(static_cast<uint32_t>(d.tokens.size()), window, stride);
        for (const Window& w : d.windows) d.fed += w.end - w.begin - 1;
        total += d.fed * grid.size();
        docs.push_back(std::move(d));
    }

    // Every setting of a window at once, and several windows side by side.
    std::vector<WindowTask> tasks;
    std::vector<std::pair<size_t, size_t>> task_window;  // (document, window) of each task
    for (size_t f = 0; f < docs.size(); f++) {
        for (size_t w = 0; w < docs[f].windows.size(); w++) {
            tasks.push_back({&docs[f].tokens, docs[f].windows[w]});
            task_window.emplace_back(f, w);
        }
    }
    const uint32_t lanes = lane_count(lanes_asked, grid, model.config, tasks.size());
    GpuOptions options;
    options.prompt_chunk = 1;  // windows are fed a token per step: no prompt chunks
    const OpenEngine opened = make_engine(args, model, lane_settings(grid, lanes), options);
    Engine& engine = *opened.engine;
    const std::string device = engine.device_name();
    if (args.has("--profile")) engine.enable_profiling();

    g_interrupted = false;
    std::signal(SIGINT, on_interrupt);
    std::vector<std::vector<Cell>> cells(grid.size(), std::vector<Cell>(docs.size()));
    Progress progress("progress", "tokens", total, /*lines_when_piped=*/true);
    const auto start = std::chrono::steady_clock::now();
    // Each window's sums, added up in window order once a document is done (the
    // same order as one window after another, so the totals do not depend on the lanes).
    std::vector<std::vector<std::vector<NllSum>>> window_sums(docs.size());
    std::vector<size_t> windows_left(docs.size());
    std::vector<std::optional<std::chrono::steady_clock::time_point>> doc_start(docs.size());
    for (size_t f = 0; f < docs.size(); f++) {
        window_sums[f].resize(docs[f].windows.size());
        windows_left[f] = docs[f].windows.size();
        if (!windows_left[f]) {
            for (size_t s = 0; s < grid.size(); s++) cells[s][f].done = true;  // nothing to score
        }
    }
    WindowEvents events;
    events.started = [&](size_t task) {
        const size_t f = task_window[task].first;
        if (!doc_start[f]) doc_start[f] = std::chrono::steady_clock::now();
    };
    events.done = [&](size_t task, const std::vector<NllSum>& sums) {
        const auto [f, w] = task_window[task];
        window_sums[f][w] = sums;
        if (--windows_left[f]) return;
        // The settings of a document share its wall time: they ran as one batch.
        const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - *doc_start[f]).count();
        for (size_t s = 0; s < grid.size(); s++) {
            Cell& cell = cells[s][f];
            for (const std::vector<NllSum>& window : window_sums[f]) cell.sum += window[s];
            cell.wall_s = wall;
            cell.done = true;
        }
    };
    events.ending = [&](size_t task, uint32_t first_sequence) {
        const size_t f = task_window[task].first;
        for (size_t s = 0; s < grid.size(); s++) {
            const CacheView view = engine.cache_view(first_sequence + static_cast<uint32_t>(s));
            Cell& cell = cells[s][f];
            const EvictionCounts e = view.total();
            cell.evicted.evictions += e.evictions;
            cell.evicted.merges += e.merges;
            cell.value_norm += view.mean_value_norm();
            cell.windows++;
        }
    };
    if (trace) {
        events.observed = [&](size_t task, uint32_t first_sequence, uint32_t pos) {
            const auto [f, w] = task_window[task];
            if (w != trace_window) return;
            for (size_t s = 0; s < grid.size(); s++) {
                const nlohmann::json labels = {
                    {"file", docs[f].path}, {"window", w}, {"policy", describe(grid[s].policy)}};
                const uint32_t appended[] = {pos};
                trace->observe(std::to_string(f) + "/" + std::to_string(s), labels,
                               engine.cache_view(first_sequence + static_cast<uint32_t>(s)), appended);
            }
        };
    }
    events.stepped = [&](uint32_t fed) {
        progress.advance(fed);
        return !g_interrupted;
    };
    evaluate_windows(engine, static_cast<uint32_t>(grid.size()), tasks, events);
    if (args.has("--profile")) print_profile(engine.profile());
    progress.finish();
    std::signal(SIGINT, SIG_DFL);
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::printf("model %s, window %u, stride %u, %s positions, %s keys/values, %zu files, %u lane%s, %s\n",
                model.path.c_str(), window, stride,
                grid[0].positions == PositionMode::cache_index ? "cache-index" : "original",
                kv_types_label(grid).c_str(), docs.size(), lanes, lanes == 1 ? "" : "s", device.c_str());
    print_table(grid, docs, cells, g_interrupted);
    print_cache_table(grid, cells, args.has("--profile") || trace);
    std::printf("wall time %.1f s\n", wall_s);
    if (json_out) write_json(*json_out, args, device, window, stride, lanes, grid, docs, cells, wall_s, g_interrupted);
    if (trace) trace->write();
    return g_interrupted ? 130 : 0;
}

}  // namespace wkv
