// Streaming perplexity: the window plan, the protocol against a slow loop
// written separately, the stored reference NLLs, and `wkv ppl` as a user runs it.
#include <doctest/doctest.h>

#include <cmath>

#include "cpu_engine.hpp"
#include "perplexity.hpp"
#include "reference.hpp"
#include "support.hpp"
#include "tokenizer.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// The slow loop: for every target, find the window that scores it, run a fresh
// engine over that window's tokens up to the target, and take -log softmax.
NllSum slow_perplexity(const Model& model, const CacheSettings& settings, const std::vector<int32_t>& tokens,
                       uint32_t window, uint32_t stride) {
    NllSum sum;
    uint32_t scored_until = 1;  // targets before this are done
    for (uint32_t begin = 0; scored_until < tokens.size(); begin += stride) {
        const uint32_t end = std::min<uint32_t>(begin + window, static_cast<uint32_t>(tokens.size()));
        for (uint32_t target = std::max(scored_until, begin + 1); target < end; target++) {
            Reference fresh(model, settings);
            std::vector<float> logits;
            for (uint32_t t = begin; t < target; t++) logits = fresh.forward(tokens[t], t - begin);
            double z = 0;
            for (float l : logits) z += std::exp(static_cast<double>(l));
            sum.total_nll += std::log(z) - logits[tokens[target]];
            sum.scored++;
        }
        scored_until = std::max(scored_until, end);
    }
    return sum;
}

CachePolicy compressing(PolicyKind kind, uint32_t budget) {
    PolicyRequest r;
    r.kind = kind;
    r.budget = budget;
    r.sinks = 1;
    return resolve_policy(r, 64);
}

std::string write_text(const std::string& name, const std::string& text) {
    const std::string path = (temp_dir() / name).string();
    write_file(path, std::vector<uint8_t>(text.begin(), text.end()));
    return path;
}

}  // namespace

TEST_SUITE("ppl") {

TEST_CASE("window plan: every token after BOS scored once; later windows score only their last stride tokens") {
    const std::vector<Window> w = plan_windows(10, 4, 2);
    REQUIRE(w.size() == 4);
    CHECK((w[0].begin == 0 && w[0].end == 4 && w[0].first_scored == 1));  // scores 1, 2, 3
    CHECK((w[1].begin == 2 && w[1].end == 6 && w[1].first_scored == 4));  // scores 4, 5
    CHECK((w[2].begin == 4 && w[2].end == 8 && w[2].first_scored == 6));
    CHECK((w[3].begin == 6 && w[3].end == 10 && w[3].first_scored == 8));
    for (uint32_t n : {2u, 3u, 9u, 10u, 11u, 37u}) {
        for (uint32_t stride : {1u, 2u, 3u}) {  // stride < window: every token after BOS exactly once
            uint64_t scored = 0;
            for (const Window& x : plan_windows(n, 4, stride)) scored += x.end - x.first_scored;
            CHECK(scored == n - 1);
        }
        // stride == window: a later window's first token has no context inside its window
        const std::vector<Window> disjoint = plan_windows(n, 4, 4);
        uint64_t scored = 0;
        for (const Window& x : disjoint) scored += x.end - x.first_scored;
        CHECK(scored == n - disjoint.size());
    }
    CHECK(plan_windows(1, 4, 2).empty());
    const std::vector<Window> one = plan_windows(3, 8, 4);  // shorter than a window
    REQUIRE(one.size() == 1);
    CHECK((one[0].end == 3 && one[0].first_scored == 1));
}

TEST_CASE("the protocol equals a slow loop written separately (CPU and GPU; full cache and compressing policies)") {
    const Model model = random_model("ppl_tiny.gguf", small_gqa_config(40, 64), 5);
    std::vector<int32_t> tokens = {1};
    for (int32_t i = 0; i < 30; i++) tokens.push_back((i * 17 + 3) % 40);
    const CacheSettings settings[] = {full_cache(8),
                                      {compressing(PolicyKind::weightedkv, 4), PositionMode::cache_index},
                                      {compressing(PolicyKind::h2o, 5), PositionMode::original},
                                      {compressing(PolicyKind::streaming, 4), PositionMode::cache_index}};
    Context& ctx = validated_context();
    for (const CacheSettings& s : settings) {
        for (uint32_t stride : {3u, 4u, 8u}) {
            const NllSum slow = slow_perplexity(model, s, tokens, 8, stride);
            CpuEngine cpu(model, {s});
            const std::unique_ptr<BatchEngine> gpu = make_gpu_engine(ctx, model, {s});
            NllSum a, b;
            for (const Window& w : plan_windows(static_cast<uint32_t>(tokens.size()), 8, stride)) {
                a += evaluate_window(cpu, tokens, w).at(0);
                b += evaluate_window(*gpu, tokens, w).at(0);
            }
            CHECK(a.scored == (stride < 8 ? tokens.size() - 1 : tokens.size() - 4));  // 4 windows when disjoint
            CHECK(slow.scored == a.scored);
            CHECK(a.total_nll == doctest::Approx(slow.total_nll).epsilon(1e-9));
            CHECK(b.scored == a.scored);
            CHECK(b.total_nll == doctest::Approx(a.total_nll).epsilon(1e-5));
        }
    }
    check_no_validation_messages();
}

TEST_CASE(
    "batched equals unbatched: the same NLL bit for bit and the same cache after every window, for every policy") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    std::vector<int32_t> tokens = {1};
    for (int32_t i = 0; i < 100; i++) tokens.push_back((i * 37 + 11) % 512);
    std::vector<CacheSettings> grid = {full_cache(64)};
    for (PolicyKind kind : compressing_policies()) {
        for (uint32_t budget : {8u, 24u}) {
            PolicyRequest r;
            r.kind = kind;
            r.budget = budget;
            grid.push_back({resolve_policy(r, 512), PositionMode::cache_index});
        }
    }
    REQUIRE(grid.size() == 1 + 2 * compressing_policies().size());
    // Four more, so the batch is split across matvec dispatches (16 vectors each).
    grid.push_back({grid[5].policy, PositionMode::original});
    grid.push_back(grid[12]);
    grid.push_back(grid[3]);
    grid.push_back(grid[7]);
    Context& ctx = validated_context();
    const std::shared_ptr<const GpuWeights> weights = upload_weights(ctx, model);
    BatchEngine batch(ctx, weights, grid);
    std::vector<std::unique_ptr<GpuSequence>> single;
    for (const CacheSettings& s : grid) single.push_back(std::make_unique<GpuSequence>(ctx, model, s));
    for (const Window& w : plan_windows(static_cast<uint32_t>(tokens.size()), 64, 32)) {
        const std::vector<NllSum> batched = evaluate_window(batch, tokens, w);
        for (size_t s = 0; s < grid.size(); s++) {
            const NllSum alone = evaluate_window(single[s]->batch(), tokens, w).at(0);
            CHECK(batched[s].scored == alone.scored);
            CHECK(batched[s].total_nll == alone.total_nll);  // bit for bit
            for (uint32_t l = 0; l < model.config.n_layers; l++) {
                const KvLayerSnapshot a = batch.cache(static_cast<uint32_t>(s)).read_layer(l),
                                      b = single[s]->cache().read_layer(l);
                CHECK(same_tables(a, b, grid[s].policy.slots()));
                CHECK(a.values == b.values);
            }
        }
    }
    check_no_validation_messages();
}

TEST_CASE(
    "a batch's caches share buffers: one dispatch per cache kernel, per key type and per policy, for every sequence") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    const ModelConfig& c = model.config;
    auto policy = [](PolicyKind kind, KvType type, PositionMode positions = PositionMode::cache_index) {
        PolicyRequest r;
        r.kind = kind;
        r.budget = 8;
        return CacheSettings{resolve_policy(r, 512), positions, type};
    };
    CacheSettings full = full_cache(40);
    std::vector<CacheSettings> grid = {full,
                                       policy(PolicyKind::weightedkv, KvType::f32),
                                       policy(PolicyKind::tova, KvType::f16),
                                       policy(PolicyKind::h2o, KvType::f32, PositionMode::original),
                                       policy(PolicyKind::streaming, KvType::f16),
                                       policy(PolicyKind::weightedkv, KvType::f16)};
    const uint32_t B = static_cast<uint32_t>(grid.size());
    Context& ctx = validated_context();
    const std::shared_ptr<const GpuWeights> weights = upload_weights(ctx, model);
    BatchEngine packed(ctx, weights, grid);
    // Buffers too small for the full cache's layer (split into groups of KV heads)
    // and for more than a few small rings each: the same results from many buffers.
    const uint64_t limit = KvCacheRing::largest_buffer_for(c, every_layer(c, full.policy.slots()), KvType::f32) - 1;
    BatchEngine scattered(ctx, weights, grid, 1, limit);
    REQUIRE(scattered.cache(0).layer(0).size() > 1);
    std::vector<std::unique_ptr<GpuSequence>> single;
    for (const CacheSettings& s : grid) single.push_back(std::make_unique<GpuSequence>(ctx, model, s));

    for (uint32_t pos = 0; pos < 30; pos++) {
        const int32_t token = static_cast<int32_t>((pos * 53 + 7) % c.vocab_size);
        const std::vector<SequenceStep> steps(B, SequenceStep{true, token, pos, StepOutput::logits, 0});
        const HostCounters before = packed.host_counters();
        packed.step(steps);
        // Per layer: rmsnorm, qkv, wo, rmsnorm, gate+up, swiglu, w2; append,
        // attention and scores once per key type (f32, f16); once the caches are
        // full, one compression per (policy, key type): 5 here. Then an embedding
        // per sequence, the final rmsnorm and the classifier.
        const uint64_t per_layer = 7 + 3 * 2 + (pos >= 8 ? 5 : 0);
        CHECK(packed.host_counters().dispatches - before.dispatches == c.n_layers * per_layer + B + 2);
        scattered.step(steps);
        for (uint32_t b = 0; b < B; b++) {
            const std::vector<float> want = single[b]->forward(token, pos);
            CHECK(packed.logits(b) == want);  // bit for bit
            CHECK(scattered.logits(b) == want);
        }
    }
    for (uint32_t b = 0; b < B; b++) {
        for (uint32_t l = 0; l < c.n_layers; l++) {
            const KvLayerSnapshot want = single[b]->cache().read_layer(l);
            for (const BatchEngine* e : {&packed, &scattered}) {
                const KvLayerSnapshot got = e->cache(b).read_layer(l);
                CHECK(same_tables(got, want, grid[b].policy.slots()));
                CHECK(
                    (got.keys == want.keys && got.values == want.values && got.acc == want.acc && got.cnt == want.cnt));
                CHECK(got.last == want.last);
            }
        }
    }
    check_no_validation_messages();
}

TEST_CASE("lanes: windows of several documents side by side equal one window at a time, bit for bit") {
    const Model model = random_model("ppl_lanes.gguf", small_gqa_config(40, 64), 9);
    // Documents of different lengths, so lanes finish at different steps and take the next window mid-run.
    std::vector<std::vector<int32_t>> docs;
    for (uint32_t n : {31u, 12u, 2u, 23u}) {
        std::vector<int32_t> d = {1};
        for (uint32_t i = 1; i < n; i++) d.push_back(static_cast<int32_t>((i * 13 + n) % 40));
        docs.push_back(d);
    }
    std::vector<WindowTask> tasks;
    for (const auto& d : docs) {
        for (const Window& w : plan_windows(static_cast<uint32_t>(d.size()), 10, 5)) tasks.push_back({&d, w});
    }
    tasks.push_back({&docs[0], {4, 5, 5}});  // a window with nothing to predict
    REQUIRE(tasks.size() == 14);
    const std::vector<CacheSettings> grid = {full_cache(10),
                                             {compressing(PolicyKind::weightedkv, 4), PositionMode::cache_index},
                                             {compressing(PolicyKind::h2o, 5), PositionMode::original}};
    Context& ctx = validated_context();
    const std::shared_ptr<const GpuWeights> weights = upload_weights(ctx, model);
    BatchEngine one_lane(ctx, weights, grid);
    for (uint32_t lanes : {1u, 3u, 5u}) {
        CAPTURE(lanes);
        BatchEngine engine(ctx, weights, lane_settings(grid, lanes));
        REQUIRE(engine.size() == 3 * lanes);
        std::vector<int> started(tasks.size(), 0), done(tasks.size(), 0);
        std::vector<size_t> start_order;
        uint64_t fed = 0;
        WindowEvents events;
        events.started = [&](size_t t) {
            started[t]++;
            start_order.push_back(t);
        };
        events.done = [&](size_t t, const std::vector<NllSum>& sums) {
            CHECK(started[t] == 1);
            done[t]++;
            const std::vector<NllSum> alone = evaluate_window(one_lane, *tasks[t].tokens, tasks[t].window);
            REQUIRE(sums.size() == grid.size());
            for (size_t s = 0; s < grid.size(); s++) {
                CHECK(sums[s].scored ==
                      tasks[t].window.end - std::max(tasks[t].window.first_scored, tasks[t].window.begin + 1));
                CHECK(sums[s].scored == alone[s].scored);
                CHECK(sums[s].total_nll == alone[s].total_nll);  // bit for bit
            }
        };
        events.stepped = [&](uint32_t n) {
            fed += n;
            return true;
        };
        CHECK(evaluate_windows(engine, 3, tasks, events));
        CHECK(started == std::vector<int>(tasks.size(), 1));
        CHECK(done == std::vector<int>(tasks.size(), 1));
        for (size_t t = 0; t < tasks.size(); t++) CHECK(start_order[t] == t);  // in order, as lanes come free
        uint64_t expected = 0;
        for (const WindowTask& t : tasks) expected += 3 * (t.window.end - t.window.begin - 1);
        CHECK(fed == expected);
    }
    // Stopping: no task that was still running is reported done.
    BatchEngine engine(ctx, weights, lane_settings(grid, 2));
    WindowEvents stop;
    size_t reported = 0, steps = 0;
    stop.done = [&](size_t, const std::vector<NllSum>&) { reported++; };
    stop.stepped = [&](uint32_t) { return ++steps < 3; };
    CHECK_FALSE(evaluate_windows(engine, 3, tasks, stop));
    CHECK(reported == 0);
    check_no_validation_messages();
}

TEST_CASE("one driver on both engines: seven policies in two lanes give the CPU reference's sums on the GPU") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    std::vector<std::vector<int32_t>> docs(2, std::vector<int32_t>{1});
    for (int32_t i = 0; i < 60; i++) docs[0].push_back((i * 37 + 11) % 512);
    for (int32_t i = 0; i < 45; i++) docs[1].push_back((i * 101 + 5) % 512);
    std::vector<WindowTask> tasks;
    for (const auto& d : docs) {
        for (const Window& w : plan_windows(static_cast<uint32_t>(d.size()), 32, 16)) tasks.push_back({&d, w});
    }
    std::vector<CacheSettings> grid = {full_cache(32)};
    for (PolicyKind kind : compressing_policies()) grid.push_back({compressing(kind, 8), PositionMode::cache_index});
    REQUIRE(grid.size() == 7);
    const std::vector<CacheSettings> lanes = lane_settings(grid, 2);
    CpuEngine cpu(model, lanes);
    const std::unique_ptr<BatchEngine> gpu = make_gpu_engine(validated_context(), model, lanes, {0, 1, {}});
    std::vector<std::vector<NllSum>> want(tasks.size()), got(tasks.size());
    WindowEvents on_cpu, on_gpu;
    on_cpu.done = [&](size_t t, const std::vector<NllSum>& sums) { want[t] = sums; };
    on_gpu.done = [&](size_t t, const std::vector<NllSum>& sums) { got[t] = sums; };
    REQUIRE(evaluate_windows(cpu, 7, tasks, on_cpu));
    REQUIRE(evaluate_windows(*gpu, 7, tasks, on_gpu));
    for (size_t t = 0; t < tasks.size(); t++) {
        REQUIRE((want[t].size() == 7 && got[t].size() == 7));
        for (size_t s = 0; s < 7; s++) {
            CAPTURE(describe(grid[s].policy));
            CHECK(got[t][s].scored == want[t][s].scored);
            CHECK(got[t][s].total_nll == doctest::Approx(want[t][s].total_nll).epsilon(1e-5));  // float accumulation
        }
    }
    check_no_validation_messages();
}

TEST_CASE("wkv-eval-8m, full cache: per-token NLL on its held-out document equals the stored PyTorch values") {
    const Json ref = shared_json("models/wkv-eval-8m.reference.json");
    const Model model = load_model(shared_file("models/wkv-eval-8m.bin"));
    const Tokenizer tokenizer = Tokenizer::load(shared_file("models/wkv-eval-8m.tokenizer.model"));
    std::vector<int32_t> tokens =
        tokenizer.encode(read_file(shared_file(ref.at("ppl_doc").get<std::string>())).substr(0, 2000), true);
    tokens.resize(97);
    CpuEngine engine(model, {full_cache(96)});
    const NllSum got = evaluate_window(engine, tokens, plan_windows(97, 97, 97)[0]).at(0);
    double expected = 0;
    const std::vector<double> nll = ref.at("nll_per_token").get<std::vector<double>>();
    for (size_t i = 0; i < 96; i++) expected += nll[i];
    CHECK(got.scored == 96);
    CHECK(got.total_nll == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("wkv ppl: table, JSON records, and the same numbers on CPU and GPU") {
    const std::string text = read_file(shared_file("corpora/pg19/katrine_lane_1909.txt")).substr(0, 3000);
    const std::string a = write_text("doc_a.txt", text.substr(0, 1500)), b = write_text("doc_b.txt", text.substr(1500));
    const std::string json = (temp_dir() / "ppl.json").string();
    // f32 keys and values, so that the CPU's numbers are the GPU's within float accumulation.
    const std::vector<std::string> common =
        stories_args("ppl", {"-f", a, "-f", b, "--ctx", "64", "--max-tokens", "150", "--policy",
                             "full,streaming,weightedkv", "--budget", "16,32", "--kv-type", "f32"});
    std::vector<std::string> gpu_args = common;
    gpu_args.insert(gpu_args.end(), {"--json", json});
    const RunResult gpu = run_wkv(gpu_args);
    REQUIRE_MESSAGE(gpu.exit_code == 0, gpu.err);
    CHECK(gpu.out.find("policy        budget K/V                doc_a          doc_b            all     scored") !=
          std::string::npos);
    CHECK(gpu.out.find("\nweightedkv        32 ") != std::string::npos);
    CHECK(gpu.out.find(" 298\n") != std::string::npos);  // 2 files x (150 - 1) scored tokens

    const Json j = parse_json(read_file(json));
    CHECK(j.at("window").get<double>() == 64);
    CHECK(j.at("stride").get<double>() == 32);
    CHECK(j.at("files").size() == 2);
    REQUIRE(j.at("results").size() == 10);  // (full + 2 policies x 2 budgets) x 2 files
    for (const Json& r : j.at("results")) {
        for (const char* key :
             {"policy", "budget", "sinks", "recent", "file", "tokens", "total_nll", "perplexity", "wall_s"})
            CHECK(r.contains(key));
        CHECK(r.at("tokens").get<double>() == 149);
        CHECK(r.at("perplexity").get<double>() ==
              doctest::Approx(std::exp(r.at("total_nll").get<double>() / 149)).epsilon(1e-6));
    }
    CHECK(j.at("results").at(0).at("policy").get<std::string>() == "full");
    CHECK(j.at("results").at(0).at("budget").get<double>() == 64);
    // What the policies did: 5 layers x 4 KV heads evict one entry each per token fed past the
    // budget, in windows feeding 63, 63, 63 and 53 tokens per file; weightedkv merges every one.
    CHECK(gpu.out.find("merge rate") != std::string::npos);
    for (const Json& r : j.at("results")) {
        const std::string policy = r.at("policy");
        const auto budget = r.at("budget").get<uint64_t>();
        const uint64_t evictions = policy == "full" ? 0 : 20 * (3 * (63 - budget) + (53 - budget));
        CHECK(r.at("evictions").get<uint64_t>() == evictions);
        CHECK(r.at("merges").get<uint64_t>() == (policy == "weightedkv" ? evictions : 0));
        CHECK(r.at("mean_value_norm").get<double>() > 0);
    }
    // 8 windows (4 per file) of 5 settings: three lanes fill 15 of 16 sequences.
    CHECK(j.at("lanes").get<double>() == 3);
    CHECK(gpu.out.find(", 3 lanes, ") != std::string::npos);

    // --profile: every dispatch timed; the counts follow from the protocol.
    std::vector<std::string> profile_args = common;
    profile_args.insert(profile_args.end(), {"--profile"});
    const RunResult profiled = run_wkv(profile_args);
    REQUIRE(profiled.exit_code == 0);
    auto dispatches_of = [&](const std::string& shader) -> long {
        const size_t at = profiled.err.find("\n" + shader + " ");
        if (at == std::string::npos) return -1;
        return std::stol(profiled.err.substr(at + 1 + shader.size()));
    };
    CHECK(dispatches_of("nll") == 5 * 298);  // every scored token of every setting
    CHECK(dispatches_of("embedding_f32") ==
          5 * 2 * (3 * 63 + 53));  // every token fed: per file, windows of 64 (3) and 54 tokens
    CHECK(dispatches_of("policy_streaming_f32") > 0);
    CHECK(profiled.err.find("\nall ") != std::string::npos);

    // One lane, one window at a time: the same sums bit for bit.
    const std::string one_lane_json = (temp_dir() / "ppl_one_lane.json").string();
    std::vector<std::string> one_lane_args = common;
    one_lane_args.insert(one_lane_args.end(), {"--lanes", "1", "--json", one_lane_json});
    REQUIRE(run_wkv(one_lane_args).exit_code == 0);
    const Json one = parse_json(read_file(one_lane_json));
    CHECK(one.at("lanes").get<double>() == 1);
    REQUIRE(one.at("results").size() == 10);
    for (size_t i = 0; i < 10; i++)
        CHECK(one.at("results").at(i).at("total_nll").get<double>() ==
              j.at("results").at(i).at("total_nll").get<double>());

    const std::string cpu_json = (temp_dir() / "ppl_cpu.json").string();
    std::vector<std::string> cpu_args = common;
    cpu_args.insert(cpu_args.end(), {"--cpu", "--lanes", "2", "--json", cpu_json});
    const RunResult cpu = run_wkv(cpu_args);
    REQUIRE_MESSAGE(cpu.exit_code == 0, cpu.err);
    // The same numbers on the other engine, within float accumulation (1e-5 relative).
    const Json k = parse_json(read_file(cpu_json));
    CHECK(k.at("lanes").get<double>() == 2);
    CHECK(k.at("device").get<std::string>() == "CPU reference");
    REQUIRE(k.at("results").size() == 10);
    for (size_t i = 0; i < 10; i++) {
        CHECK(k.at("results").at(i).at("policy").get<std::string>() ==
              j.at("results").at(i).at("policy").get<std::string>());
        CHECK(k.at("results").at(i).at("perplexity").get<double>() ==
              doctest::Approx(j.at("results").at(i).at("perplexity").get<double>()).epsilon(1e-5));
        CHECK(k.at("results").at(i).at("merges") == j.at("results").at(i).at("merges"));
        CHECK(k.at("results").at(i).at("mean_value_norm").get<double>() ==
              doctest::Approx(j.at("results").at(i).at("mean_value_norm").get<double>()).epsilon(1e-4));
    }
}

TEST_CASE("wkv ppl: bad input gives one line and exit code 2; Ctrl-C prints the partial table") {
    const std::string model = shared_file("models/stories260K.bin"), tok = shared_file("models/tok512.bin");
    const std::string doc = write_text("doc.txt", "Once upon a time there was a cat.");
    auto error_of = [&](std::initializer_list<std::string> extra) {
        std::vector<std::string> a = {"ppl", "-m", model, "-t", tok};
        a.insert(a.end(), extra);
        const RunResult r = run_wkv(a);
        CHECK(r.exit_code == 2);
        CHECK(r.err.find('\n') == r.err.size() - 1);
        return r.err;
    };
    CHECK(error_of({"-f", doc, "--ctx", "1024"}).find("--policy full with --ctx 1024 is refused") != std::string::npos);
    CHECK(error_of({"-f", doc}).find("--ctx L (the window length) is required") != std::string::npos);
    CHECK(error_of({"--ctx", "64"}).find("at least one document") != std::string::npos);
    CHECK(error_of({"-f", "/nonexistent.txt", "--ctx", "64"}).find("/nonexistent.txt: cannot open") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--stride", "65"}).find("--stride = 65 is out of range") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o"}).find("--policy h2o needs --budget") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o", "--budget", "8,x"})
              .find("is not a comma-separated list") != std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--lanes", "0"}).find("--lanes = 0 is out of range") !=
          std::string::npos);
    // List flags: no empty entries, no repeats, no stray spaces.
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", ""}).find("--policy '' has an empty entry") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy="}).find("--policy '' has an empty entry") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o,", "--budget", "8"}).find("has an empty entry") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o,h2o", "--budget", "8"}).find("names 'h2o' twice") !=
          std::string::npos);
    CHECK(
        error_of({"-f", doc, "--ctx", "64", "--policy", "h2o, tova", "--budget", "8"}).find("' tova' is not one of") !=
        std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o", "--budget", "8,,16"}).find("has an empty entry") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o", "--budget", "8,8"}).find("names '8' twice") !=
          std::string::npos);
    // A flag must apply to at least one listed policy (the rules of the policy table).
    CHECK(error_of({"-f", doc, "--ctx", "64", "--sinks", "2"}).find("do not apply to --policy full") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--budget", "8"}).find("--budget does not apply to --policy full here") !=
          std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "streaming,cam", "--budget", "8", "--recent", "2"})
              .find("--recent does not apply to --policy streaming") != std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--policy", "h2o", "--budget", "8", "--cam-n", "4"})
              .find("apply to --policy cam only") != std::string::npos);
    CHECK(error_of({"-f", doc, "--ctx", "64", "--cpu", "--profile"}).find("--profile does not apply with --cpu") !=
          std::string::npos);

    const std::string long_doc =
        write_text("long.txt", read_file(shared_file("corpora/pg19/katrine_lane_1909.txt")).substr(0, 60000));
    const RunResult r = run_wkv_interrupted({"ppl", "-m", model, "-t", tok, "-f", long_doc, "-f", long_doc, "--ctx",
                                             "256", "--policy", "full,weightedkv", "--budget", "32", "--cpu"},
                                            1500);
    CHECK(r.exit_code == 130);
    CHECK(r.out.find("(interrupted") != std::string::npos);
    CHECK(r.out.find("\nfull ") != std::string::npos);
}

TEST_CASE(
    "wkv ppl --max-tokens reads only what it needs: a 20 MB file in small memory, the same tokens as the whole file's "
    "first") {
    const Tokenizer tok = Tokenizer::load(shared_file("models/tok512.bin"));
    const std::string book = read_file(shared_file("corpora/pg19/katrine_lane_1909.txt"));
    const std::vector<int32_t> all = tok.encode(book, /*add_bos=*/true);
    for (uint64_t n : {2u, 64u, 1000u, 5000u}) {
        const std::vector<int32_t> first = document_tokens(tok, book, n);
        CHECK(first == std::vector<int32_t>(all.begin(), all.begin() + static_cast<long>(n)));
    }
    CHECK(document_tokens(tok, book, 0) == all);
    CHECK(document_tokens(tok, book, all.size() + 10) == all);

    std::string big;
    while (big.size() < (20u << 20)) big += book;
    const std::string path = write_text("big.txt", big);
    // 2,000 tokens: the run outlasts the tokenising by a second or so, so the peak is seen before the exit.
    const RunResult r = run_wkv_measuring_memory({"ppl", "-m", shared_file("models/stories260K.bin"), "-t",
                                                  shared_file("models/tok512.bin"), "-f", path, "--ctx", "64",
                                                  "--max-tokens", "2000", "--cpu"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    // Tokenising the whole file took 468 MB; the model, the tokens needed and the program take a few tens
    // (about 120 MB under the sanitizers, whose shadow memory and quarantine count too).
    CHECK(r.peak_rss_bytes > 0);
    CHECK_MESSAGE(r.peak_rss_bytes < (200u << 20), r.peak_rss_bytes);
}

}  // TEST_SUITE("ppl")
