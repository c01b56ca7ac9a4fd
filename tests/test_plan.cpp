// A real model's first contact: the memory plan before any allocation, the
// device's limits, the metadata that changes the math, and `wkv info`.
#include <doctest/doctest.h>

#include <cmath>

#include "cpu_engine.hpp"
#include "error.hpp"
#include "gguf_writer.hpp"
#include "random_model.hpp"
#include "reference.hpp"
#include "runtime/kv_cache_ring.hpp"
#include "runtime/memory_plan.hpp"
#include "support.hpp"
#include "tokenizer.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// One line on stderr, exit code `code`, naming `contains`.
void check_error(const RunResult& r, int code, const std::string& contains) {
    CHECK(r.exit_code == code);
    CHECK_MESSAGE(r.err.find('\n') == r.err.size() - 1, "not one line: " << r.err);
    CHECK_MESSAGE(r.err.find(contains) != std::string::npos, "expected '" << contains << "' in: " << r.err);
}

Model random_with(const std::string& name, std::function<void(GgufWriter&)> metadata) {
    RandomModelOptions o;
    o.config = small_gqa_config(64, 256);
    o.seed = 5;
    o.extra_metadata = std::move(metadata);
    const std::string path = (temp_dir() / name).string();
    write_file(path, random_llama_gguf(o));
    return load_model(path);
}

std::string load_error(std::function<void(GgufWriter&)> metadata) {
    try {
        random_with("bad_metadata.gguf", std::move(metadata));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("memory plan: the parts it adds up are what the engine allocates") {
    const Model model = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    PolicyRequest r;
    r.kind = PolicyKind::weightedkv;
    r.budget = 64;
    const CacheSettings cache{resolve_policy(r, 1024), PositionMode::cache_index, KvType::f16};
    Context& ctx = validated_context();
    const MemoryPlan plan = plan_memory(model, {cache}, ctx.info().max_buffer_bytes());
    GpuSequence gpu(ctx, model, cache);
    CHECK(plan.weights == gpu.batch().weight_bytes());
    CHECK(plan.kv_cache == gpu.batch().kv_cache_bytes());
    CHECK(plan.kv_cache == KvCacheRing::bytes_for(model.config, every_layer(model.config, 65), KvType::f16));
    CHECK(plan.kv_buffer == plan.kv_cache / 6);  // one buffer per layer
    CHECK(!plan.kv_split);
    CHECK(plan.weights_by_type.size() == 2);  // q8_0 matrices, f32 norms
    const std::vector<CacheSettings> three(3, cache);
    const BatchEngine::BufferBytes buffers = BatchEngine::buffer_bytes(model.config, three);
    const std::shared_ptr<const GpuWeights> weights = upload_weights(ctx, model);
    const BatchEngine batch(ctx, weights, three);
    CHECK(buffers.total == batch.buffer_bytes());
    CHECK(plan_memory(model, three, ctx.info().max_buffer_bytes()).kv_cache == 3 * plan.kv_cache);
    // Below one layer's buffer the layers split into groups of KV heads, as the ring splits them.
    const MemoryPlan split = plan_memory(model, {cache}, plan.kv_buffer - 1);
    CHECK(split.kv_split);
    CHECK(split.kv_buffer < plan.kv_buffer);
    CHECK(split.kv_cache >= plan.kv_cache);  // each group's sections are padded on their own
    GpuOptions options;
    options.max_buffer_bytes = plan.kv_buffer - 1;
    GpuSequence split_gpu(ctx, model, cache, options);
    CHECK(split_gpu.batch().kv_cache_bytes() == split.kv_cache);
    CHECK(split_gpu.cache().layer(0).size() == 2);
    check_no_validation_messages();
}

TEST_CASE("a run that does not fit is refused before any upload, in one line that says what would fit") {
    const Model model = load_model(shared_file("models/wkv-eval-8m.bin"));
    PolicyRequest r;
    const CacheSettings full{resolve_policy(r, 1024), PositionMode::cache_index};
    const MemoryPlan plan = plan_memory(model, {full}, 128u << 20);
    DeviceInfo device;
    device.name = "small";
    device.max_storage_buffer_range = device.max_allocation_bytes = 1ull << 30;
    device.device_local_free = plan.total() - 1;
    const std::string why = why_it_does_not_fit(plan, device);
    CHECK(why.find("needs ") == 0);
    CHECK(why.find("weights 31.8 MiB (f32 31.8 MiB)") != std::string::npos);
    CHECK(why.find("KV cache 14.6 MiB (1 sequence)") != std::string::npos);
    // The advice is the longest cache that fits: it does, and one entry more does not.
    const size_t at = why.find("at most ");
    REQUIRE(at != std::string::npos);
    const uint32_t fits = static_cast<uint32_t>(std::stoul(why.substr(at + 8)));
    CHECK(fits < 1024);
    CHECK(fits > 900);
    PolicyRequest shorter;
    shorter.budget = fits;
    CHECK(plan_memory(model, {{resolve_policy(shorter, 1024), PositionMode::cache_index}}, 128u << 20).total() <=
          device.device_local_free);
    shorter.budget = fits + 1;
    CHECK(plan_memory(model, {{resolve_policy(shorter, 1024), PositionMode::cache_index}}, 128u << 20).total() >
          device.device_local_free);
    CHECK(why.find("or --kv-type f16 would fit") != std::string::npos);  // an f32 cache
    device.device_local_free = plan.weights / 2;
    CHECK(why_it_does_not_fit(plan, device).find("a smaller quantisation") != std::string::npos);
    device.device_local_free = 1ull << 34;
    // A layer above the buffer limit splits by KV heads; only one head's cache above it is refused.
    const uint64_t one_head = plan_memory(model, {full}, 1).kv_buffer;
    device.max_storage_buffer_range = one_head;
    CHECK(why_it_does_not_fit(plan_memory(model, {full}, device.max_buffer_bytes()), device).empty());
    device.max_storage_buffer_range = one_head - 1;
    CHECK(why_it_does_not_fit(plan_memory(model, {full}, device.max_buffer_bytes()), device)
              .find("one KV head of a layer's cache needs") != std::string::npos);
    device.max_storage_buffer_range = 1ull << 30;
    CHECK(why_it_does_not_fit(plan, device).empty());

    // Gemma 3's window layers keep their 8 slots whatever the budget: the advice is the global
    // layer's longest cache. An f16 cache is not told to become f16, but to store its values
    // in q8_0, or its keys too where that is not enough; each advised type fits, exactly.
    const Model gemma3 = load_model(shared_file("models/arch/gemma3-random.gguf"));
    CacheSettings gemma_full{resolve_policy(r, 256), PositionMode::cache_index, KvType::f16};
    const MemoryPlan gemma_plan = plan_memory(gemma3, {gemma_full}, 128u << 20);
    device.device_local_free = gemma_plan.total() - 1;
    const std::string gemma_why = why_it_does_not_fit(gemma_plan, device);
    CHECK(gemma_why.find("--kv-type f16") == std::string::npos);
    CHECK(gemma_why.find("or --cache-type-v q8_0 would fit") != std::string::npos);
    auto gemma_as = [&](KvTypes types) {
        CacheSettings s = gemma_full;
        s.kv_type = types;
        return plan_memory(gemma3, {s}, 128u << 20).total();
    };
    const uint64_t v_q8 = gemma_as({KvType::f16, KvType::q8_0}), both_q8 = gemma_as(KvType::q8_0);
    CHECK(v_q8 <= device.device_local_free);
    device.device_local_free = v_q8 - 1;
    CHECK(why_it_does_not_fit(gemma_plan, device).find("or --kv-type q8_0 would fit") != std::string::npos);
    CHECK(both_q8 <= device.device_local_free);
    device.device_local_free = both_q8 - 1;
    CHECK(why_it_does_not_fit(gemma_plan, device).find(" would fit (-c/--ctx-size or --budget); ") ==
          std::string::npos);
    CHECK(why_it_does_not_fit(gemma_plan, device).find("q8_0") == std::string::npos);
    device.device_local_free = gemma_plan.total() - 1;
    const size_t gemma_at = gemma_why.find("at most ");
    REQUIRE_MESSAGE(gemma_at != std::string::npos, gemma_why);
    const uint32_t gemma_fits = static_cast<uint32_t>(std::stoul(gemma_why.substr(gemma_at + 8)));
    CHECK((gemma_fits > 8 && gemma_fits < 256));
    for (uint32_t budget : {gemma_fits, gemma_fits + 1}) {
        CacheSettings s = gemma_full;
        s.policy.budget = budget;
        CHECK(s.layer_slots(gemma3.config) == std::vector<uint32_t>{8, 8, budget});
        CHECK((plan_memory(gemma3, {s}, 128u << 20).total() <= device.device_local_free) == (budget == gemma_fits));
    }
    device.device_local_free = 1ull << 34;

    // The CLI, with the device's memory lowered: exit 3, one line, no upload started.
    const std::string eval = shared_file("models/wkv-eval-8m.bin");
    const std::string eval_tokenizer = shared_file("models/wkv-eval-8m.tokenizer.model");
    const std::vector<std::string> args = {"generate", "-m", eval, "-t", eval_tokenizer, "-n", "4", "--temp", "0"};
    check_error(run_wkv_with_env(args, {{"WKV_DEVICE_MEMORY", "40000000"}}), 3,
                "entries would fit (-c/--ctx-size or --budget)");
    check_error(run_wkv_with_env(args, {{"WKV_DEVICE_MEMORY", "30000000"}}), 3, "a smaller quantisation");
    check_error(run_wkv_with_env(args, {{"WKV_MAX_STORAGE_BUFFER_RANGE", "100000"}}), 3,
                "one KV head of a layer's cache needs");
    // A binding limit between one head's cache (385 KiB) and a layer's (2.3 MiB):
    // the cache splits by KV heads, weights by rows, and the text is the same.
    const RunResult plain = run_wkv(args);
    const RunResult split = run_wkv_with_env(args, {{"WKV_MAX_STORAGE_BUFFER_RANGE", "1000000"}});
    CHECK(plain.exit_code == 0);
    CHECK(split.exit_code == 0);
    CHECK(split.out == plain.out);
    check_error(run_wkv_with_env(args, {{"WKV_DEVICE_MEMORY", "lots"}}), 2,
                "WKV_DEVICE_MEMORY: expected a positive number of bytes");
    // With a cache that fits the lowered memory, it runs.
    std::vector<std::string> small = args;
    small.insert(small.end(), {"-c", "64"});
    CHECK(run_wkv_with_env(small, {{"WKV_DEVICE_MEMORY", "40000000"}}).exit_code == 0);
}

TEST_CASE("lowered device limits: weights split into chunks under WKV_MAX_STORAGE_BUFFER_RANGE give the same text") {
    // (-c 64: the full 512-entry cache's keys would not fit a 40 kB binding, and wkv would say so.)
    const std::vector<std::string> args = stories_args("generate", {"-n", "24", "--temp", "0", "-c", "64"});
    const RunResult normal = run_wkv(args);
    const RunResult split =
        run_wkv_with_env(args, {{"WKV_MAX_STORAGE_BUFFER_RANGE", "40000"}, {"WKV_VALIDATION", "1"}});
    REQUIRE(normal.exit_code == 0);
    REQUIRE_MESSAGE(split.exit_code == 0, split.err);
    CHECK(split.out == normal.out);
}

TEST_CASE("linear RoPE scaling: position p with factor 2 is position p/2 without it, on CPU and GPU") {
    const Model plain = random_with("rope_plain.gguf", {});
    const Model scaled = random_with("rope_linear.gguf", [](GgufWriter& g) {
        g.str("llama.rope.scaling.type", "linear");
        g.f32("llama.rope.scaling.factor", 2.0f);
    });
    CHECK(scaled.config.rope_scale == 0.5f);
    Context& ctx = validated_context();
    for (bool gpu : {false, true}) {
        auto engine = [&](const Model& m) -> std::unique_ptr<Engine> {
            const std::vector<CacheSettings> one = {full_cache(16, PositionMode::original)};
            if (gpu) return make_gpu_engine(ctx, m, one);
            return std::make_unique<CpuEngine>(m, one);
        };
        const std::unique_ptr<Engine> plain_engine = engine(plain), scaled_engine = engine(scaled);
        Sequence a(*plain_engine), b(*scaled_engine);
        double worst = 0;
        for (uint32_t i = 0; i < 6; i++) {
            const int32_t token = static_cast<int32_t>(i * 11 % 64);
            const std::vector<float> x = a.forward(token, i), y = b.forward(token, 2 * i);
            for (size_t k = 0; k < x.size(); k++) worst = std::max(worst, static_cast<double>(std::fabs(x[k] - y[k])));
        }
        CHECK_MESSAGE(worst < 1e-5, (gpu ? "GPU " : "CPU ") << worst);
    }
    // The older key means the same.
    CHECK(random_with("rope_old.gguf", [](GgufWriter& g) {
              g.f32("llama.rope.scale_linear", 4.0f);
          }).config.rope_scale == 0.25f);
    check_no_validation_messages();
}

}  // TEST_SUITE("gpu")

TEST_SUITE("loaders") {

TEST_CASE("metadata that changes the math: supported or refused, never ignored") {
    CHECK(load_error([](GgufWriter& g) {
              g.str("llama.rope.scaling.type", "yarn");
          }).find("llama.rope.scaling.type is 'yarn': only linear") != std::string::npos);
    CHECK(load_error([](GgufWriter& g) {
              g.str("llama.rope.scaling.type", "linear");
          }).find("llama.rope.scaling.factor is missing") != std::string::npos);
    CHECK(load_error([](GgufWriter& g) { g.f32("llama.rope.scale_linear", 0.0f); }).find("outside 1..1024") !=
          std::string::npos);
    CHECK(load_error([](GgufWriter& g) { g.u32("llama.expert_count", 8); }).find("mixture-of-experts") !=
          std::string::npos);
    CHECK(load_error([](GgufWriter& g) { g.str("llama.rope.scaling.type", "none"); }).empty());
}

TEST_CASE("add_bos_token and add_eos_token decide a prompt's ends") {
    const Model fixture = load_model(shared_file("models/llama-2-tiny-random.gguf"));
    Tokenizer with_bos = Tokenizer::from_vocabulary(*fixture.vocabulary);
    CHECK(with_bos.encode_prompt("Hello").front() == 1);
    Vocabulary v = *fixture.vocabulary;
    v.add_bos = false;
    v.add_eos = true;
    const Tokenizer without = Tokenizer::from_vocabulary(v);
    const std::vector<int32_t> ids = without.encode_prompt("Hello");
    CHECK(ids.front() != 1);
    CHECK(ids.back() == 2);
    CHECK(ids.size() == with_bos.encode_prompt("Hello").size());
}

}  // TEST_SUITE("loaders")

TEST_SUITE("cli") {

TEST_CASE("a file that claims a huge context gets the default cache of 4096 entries, not a cache that size") {
    // Before the default was capped, a 9 MB GGUF claiming 4,194,304 tokens asked for a 54 GiB cache.
    RandomModelOptions o;
    o.config = small_gqa_config(64, 256);
    o.config.context = 4194304;
    o.seed = 7;
    const std::string path = (temp_dir() / "huge_context.gguf").string();
    write_file(path, random_llama_gguf(o));
    const Model model = load_model(path);
    CHECK(model.config.context == 4194304);
    const RunResult r = run_wkv({"info", "-m", path});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK_MESSAGE(r.out.find("cache: full budget=4096") != std::string::npos, r.out);
    const CachePolicy policy = resolve_policy(PolicyRequest{}, model.config.context);
    CHECK(policy.budget == 4096);
    // f16 keys and values, as wkv info plans by default.
    const MemoryPlan plan =
        plan_memory(model, {CacheSettings{policy, PositionMode::cache_index, KvType::f16}}, 128u << 20, kPromptChunk);
    CHECK(plan.kv_cache == KvCacheRing::bytes_for(model.config, every_layer(model.config, 4096), KvType::f16));
    // The RoPE table covers the cache's positions, not the claimed context (which would take
    // at least 4,194,304 x 2 floats, 32 MiB); a prompt chunk's probabilities take 4 MiB.
    CHECK(plan.activations < (8u << 20));
    CHECK_MESSAGE(r.out.find("KV cache " + format_bytes(plan.kv_cache)) != std::string::npos, r.out);
}

TEST_CASE("wkv info: metadata, weights by type, the plan, and whether it fits") {
    const RunResult r = run_wkv({"info", "-m", shared_file("models/quant/wkv-eval-8m.Q4_K_M.gguf"), "--policy",
                                 "weightedkv", "--budget", "256"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    for (const char* expected :
         {"dim=288 hidden=768 layers=6", "general.architecture", "'llama'", "tokenizer.ggml.tokens", "[4096 strings]",
          "q4_K", "q6_K", "q5_0", "weightedkv budget=256 sinks=4 recent=124", "fits:"}) {
        CHECK_MESSAGE(r.out.find(expected) != std::string::npos, "no '" << expected << "' in:\n" << r.out);
    }
    const RunResult tight =
        run_wkv_with_env({"info", "-m", shared_file("models/wkv-eval-8m.bin")}, {{"WKV_DEVICE_MEMORY", "20000000"}});
    REQUIRE(tight.exit_code == 0);
    CHECK(tight.out.find("does not fit: needs") != std::string::npos);
}

}  // TEST_SUITE("cli")
