// Today's Llama-family architectures (../shared/models/arch: random weights,
// llama.cpp's logits): Llama 3 (byte-level BPE, RoPE frequency factors, tied
// embeddings), Qwen2 (Q/K/V biases, NEOX RoPE, no BOS), Qwen3 (Q/K head
// norms, a head size that is not dim / heads), Phi-3 (fused projections,
// partial rotary, LongRoPE), SmolLM3 (no RoPE in every fourth layer), Granite
// (embedding, attention, residual and logit multipliers) and Gemma 3
// (post-norms, a GELU gate, sliding-window layers). The prompt's ids and the
// logits at every position, against llama.cpp's own.
#include <doctest/doctest.h>

#include <cmath>

#include "cpu_engine.hpp"
#include "gguf_writer.hpp"
#include "layer_plan.hpp"
#include "policy.hpp"
#include "random_model.hpp"
#include "reference.hpp"
#include "runtime/memory_plan.hpp"
#include "sampler.hpp"
#include "support.hpp"
#include "tokenizer.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

const char* const kArchitectures[] = {"llama3", "qwen2", "qwen3", "phi3", "smollm3", "granite", "gemma3"};

// How close to llama.cpp's logits each file must come, relative to the largest logit.
// llama.cpp's CPU backend computes GELU through a table of f16 inputs and outputs
// (GGML_GELU_FP16), so its Gemma 3 logits carry that rounding: wkv's exact GELU is
// 2.6e-4 from them, and the same GELU through f16 (Activation::gelu_tanh_f16, as
// use_llama_cpp_gelu sets it) 7.4e-5, within the 1e-4 of the other files.
double tolerance(const std::string& name) { return name == "gemma3" ? 4e-4 : 1e-4; }

// llama.cpp's CPU GELU in place of the exact one; nothing else changes.
void use_llama_cpp_gelu(Model& model) {
    REQUIRE(model.config.activation == Activation::gelu_tanh);
    model.config.activation = Activation::gelu_tanh_f16;
}

// One file of ../shared/models/arch, its reference record and llama.cpp's ids for its prompt.
struct ArchFile {
    Model model;
    Json record;
    std::vector<int32_t> prompt;
};

ArchFile arch_file(const std::string& name) {
    ArchFile f{load_model(shared_file("models/arch/" + name + "-random.gguf")),
               shared_json("models/arch/" + name + "-random.json"),
               {}};
    f.prompt = to_ids(f.record.at("token_ids"));
    return f;
}

}  // namespace

TEST_SUITE("reference") {

TEST_CASE(
    "architectures on the CPU: llama3, qwen2, qwen3, phi3, smollm3, granite, gemma3 give llama.cpp's prompt ids and "
    "logits within 1e-4 (gemma3: 4e-4, and 1e-4 with llama.cpp's f16 GELU)") {
    for (const std::string name : kArchitectures) {
        CAPTURE(name);
        ArchFile f = arch_file(name);
        REQUIRE(f.model.vocabulary);
        const Tokenizer tokenizer = Tokenizer::from_vocabulary(*f.model.vocabulary);
        CHECK(tokenizer.encode_prompt(f.record.at("prompt").get<std::string>()) == f.prompt);
        // A cache of the whole context, as llama.cpp ran: Phi-3's LongRoPE takes its long factors for it.
        Reference cpu(f.model, f.model.config.context);
        const double worst = worst_logit_error(cpu, f.prompt, f.record.at("logits"));
        MESSAGE(name << ": worst |logit error| / max|logit| = " << worst);
        CHECK(worst < tolerance(name));
        if (name != "gemma3") continue;
        use_llama_cpp_gelu(f.model);
        Reference like_llama_cpp(f.model, f.model.config.context);
        const double worst_rounded = worst_logit_error(like_llama_cpp, f.prompt, f.record.at("logits"));
        MESSAGE("gemma3 with GELU through f16: worst |logit error| / max|logit| = " << worst_rounded);
        CHECK(worst_rounded < 1e-4);
        CHECK(worst_rounded < worst / 2);
    }
    // What each file has that Llama 2 does not.
    const ModelConfig llama3 = load_model(shared_file("models/arch/llama3-random.gguf")).config;
    CHECK((llama3.rope_freq_factors.size() == 16 && llama3.rope_style == RopeStyle::norm));
    const Model qwen2 = load_model(shared_file("models/arch/qwen2-random.gguf"));
    CHECK((qwen2.config.qkv_bias && qwen2.config.rope_style == RopeStyle::neox));
    CHECK(qwen2.classifier.data == qwen2.token_embedding.data);  // tied
    const ModelConfig qwen3 = load_model(shared_file("models/arch/qwen3-random.gguf")).config;
    CHECK((qwen3.qk_norm && qwen3.head_dim() == 64 && qwen3.n_heads * qwen3.head_dim() == 2 * qwen3.dim));
    // Phi-3: fused projections split into their roles, 24 of 32 dimensions rotated, LongRoPE's
    // long factors only for a run longer than its original context of 128.
    const Model phi3 = load_model(shared_file("models/arch/phi3-random.gguf"));
    CHECK((phi3.config.rope_dims == 24 && phi3.config.rope_original_context == 128));
    CHECK(phi3.layers[0].wk.rows == 64);
    CHECK(phi3.layers[0].wk.data == phi3.layers[0].wq.data + 128 * 128 * 4);  // Wk's rows follow Wq's
    CHECK(model_plan(phi3.config, 256).layers[0].rope.freq_factors == phi3.config.rope_factors_long.data());
    CHECK(model_plan(phi3.config, 128).layers[0].rope.freq_factors == phi3.config.rope_factors_short.data());
    const ModelPlan smollm3 = model_plan(load_model(shared_file("models/arch/smollm3-random.gguf")).config);
    REQUIRE(smollm3.layers.size() == 4);
    CHECK((smollm3.layers[0].rope.rotates && smollm3.layers[2].rope.rotates && !smollm3.layers[3].rope.rotates));
    const Model granite_model = load_model(shared_file("models/arch/granite-random.gguf"));
    const ModelPlan granite = model_plan(granite_model.config);
    CHECK((granite.embedding_scale == 12.0f && granite.logit_scale == 4.0f));
    CHECK((granite.layers[1].attention_scale == doctest::Approx(0.125) &&
           granite.layers[1].residual_scale == doctest::Approx(0.22)));
    // Gemma 3: window 8 with pattern 3, so layers 0 and 1 see the last 8 positions with RoPE base
    // 1e4 unscaled, layer 2 all of them with base 1e6 and linear scaling 8.
    const ModelPlan gemma3 = model_plan(load_model(shared_file("models/arch/gemma3-random.gguf")).config);
    REQUIRE(gemma3.layers.size() == 3);
    CHECK(gemma3.embedding_scale == doctest::Approx(std::sqrt(128.0)));
    for (const LayerPlan& l : gemma3.layers) {
        CHECK((l.post_norms && l.qk_norm && l.activation == Activation::gelu_tanh && l.rope.style == RopeStyle::neox));
        CHECK(l.attention_scale == doctest::Approx(0.125));  // 1/sqrt(head size 64)
    }
    CHECK((gemma3.layers[0].window == 8 && gemma3.layers[1].window == 8 && gemma3.layers[2].window == 0));
    CHECK((gemma3.layers[0].rope.theta == 1e4f && gemma3.layers[0].rope.scale == 1.0f));
    CHECK((gemma3.layers[2].rope.theta == 1e6f && gemma3.layers[2].rope.scale == 0.125f));
}

TEST_CASE("a sliding-window layer's cache is StreamingLLM without sinks holding window - 1 between steps") {
    PolicyRequest r;
    r.kind = PolicyKind::weightedkv;
    r.budget = 24;
    const CachePolicy chosen = resolve_policy(r, 256);
    const CachePolicy window = layer_policy(chosen, 8);
    CHECK((window.kind == PolicyKind::streaming && window.budget == 7 && window.sinks == 0 && window.slots() == 8));
    CHECK(layer_policy(chosen, 0).kind == PolicyKind::weightedkv);  // a global layer: as chosen
    CachePolicy full;
    full.budget = 256;
    CHECK(layer_policy(full, 8).kind == PolicyKind::streaming);
    full.budget = 6;  // a full cache that can never fill the window stays as it is
    CHECK((layer_policy(full, 8).kind == PolicyKind::full && layer_policy(full, 8).budget == 6));
    // What a whole Gemma 3 file's cache allocates: 8 slots in each window layer, the budget's in the global one.
    const Model gemma3 = load_model(shared_file("models/arch/gemma3-random.gguf"));
    const CacheSettings settings{chosen, PositionMode::cache_index, KvType::f32};
    CHECK(settings.layer_slots(gemma3.config) == std::vector<uint32_t>{8, 8, 25});
    CHECK(settings.positions_held(gemma3.config) == 25);
    CHECK(gemma3.config.global_layer() == 2);
    // wkv info shows the plan's windows, the window layers' policy and a global layer's bytes.
    const RunResult info = run_wkv(
        {"info", "-m", shared_file("models/arch/gemma3-random.gguf"), "--policy", "weightedkv", "--budget", "24"});
    CHECK(info.exit_code == 0);
    for (const std::string line :
         {"layers 0-1: RoPE theta 10000 neox; q.k x 0.125; Q/K head norms; post-norms; GELU "
          "gate; sliding window of 8",
          "layer 2: RoPE theta 1e+06 neox scale 0.125;", "sliding-window layers: streaming budget=7 sinks=0 recent=0",
          "sliding_window=8 in 2 of 3 layers", "per global layer)"})
        CHECK_MESSAGE(info.out.find(line) != std::string::npos, line << "\n" << info.out);
}

TEST_CASE("what wkv does not run is refused in one line, exit 2: YaRN scaling, an unknown pre-tokenizer, Gemma 2") {
    RandomModelOptions o;
    o.config = small_gqa_config(40, 64);
    o.extra_metadata = [](GgufWriter& g) { g.str("llama.rope.scaling.type", "yarn"); };
    const std::string yarn = (temp_dir() / "yarn.gguf").string();
    write_file(yarn, random_llama_gguf(o));
    GgufWriter v;
    v.str("general.architecture", "llama");
    v.str("tokenizer.ggml.model", "gpt2");
    v.str("tokenizer.ggml.pre", "tekken");
    v.str_array("tokenizer.ggml.tokens", {"a", "b"});
    v.str_array("tokenizer.ggml.merges", {"a b"});
    const std::string vocab = (temp_dir() / "tekken.gguf").string();
    write_file(vocab, v.bytes());
    // Another family (Gemma 2 here) is refused by name, with the list of what wkv runs.
    GgufWriter g2;
    g2.str("general.architecture", "gemma2");
    const std::string gemma2 = (temp_dir() / "gemma2.gguf").string();
    write_file(gemma2, g2.bytes());
    const std::string runs = "wkv runs 'llama', 'qwen2', 'qwen3', 'phi3', 'smollm3', 'granite', 'gemma3'";
    for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"info", "-m", yarn}, "llama.rope.scaling.type is 'yarn': only linear RoPE scaling is supported"},
             {{"tokenize", "-m", vocab, "-p", "ab"}, "tokenizer.ggml.pre is 'tekken', which wkv does not know"},
             {{"info", "-m", gemma2}, "is 'gemma2'; " + runs},
         }) {
        const RunResult r = run_wkv(args);
        CHECK(r.exit_code == 2);
        CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
        CHECK(r.err.find('\n') == r.err.size() - 1);
    }
}

TEST_CASE("gemma3's sliding-window metadata out of range is refused in one line naming the file and the key") {
    const std::string original = shared_file("models/arch/gemma3-random.gguf");
    const std::string bytes = read_file(original);
    // The 4 bytes of a key's value: after the key's text and its 4-byte type.
    auto with_value = [&](const std::string& key, const void* value, const std::string& name) {
        std::string patched = bytes;
        const size_t at = patched.find(key);
        REQUIRE(at != std::string::npos);
        patched.replace(at + key.size() + 4, 4, static_cast<const char*>(value), 4);
        const std::string path = (temp_dir() / name).string();
        write_file(path, std::vector<uint8_t>(patched.begin(), patched.end()));
        return path;
    };
    const uint32_t one = 1, zero = 0;
    const float nan = std::nanf(""), half = 0.5f;
    const std::pair<std::string, std::string> cases[] = {
        {with_value("gemma3.attention.sliding_window", &one, "window1.gguf"),
         "gemma3.attention.sliding_window is not in 2..4194304"},
        {with_value("gemma3.rope.freq_base_swa", &nan, "swa_nan.gguf"),
         "gemma3.rope.freq_base_swa is not a finite number > 1"},
        {with_value("gemma3.rope.freq_base_swa", &half, "swa_half.gguf"),
         "gemma3.rope.freq_base_swa is not a finite number > 1"},
    };
    for (const auto& [path, message] : cases) {
        CAPTURE(path);
        CHECK_THROWS_WITH_AS(load_model(path), doctest::Contains((path + ": " + message).c_str()), Error);
    }
    // Pattern 0 (llama.cpp: every layer windowed), as a number.
    const ModelConfig all = load_model(with_value("gemma3.attention.sliding_window_pattern", &zero, "p0.gguf")).config;
    CHECK(all.layer_windows == std::vector<uint32_t>{8, 8, 8});
    CHECK(all.global_layer() == 0);
    // Pattern 1: every layer global.
    CHECK(load_model(with_value("gemma3.attention.sliding_window_pattern", &one, "p1.gguf")).config.layer_windows ==
          std::vector<uint32_t>{0, 0, 0});
}

}  // TEST_SUITE("reference")

namespace {

// A prompt fed to the CPU reference one token at a time and to the GPU in chunks of `chunk`,
// then its last token: the two sides' last logits and caches.
struct Fed {
    Reference cpu;
    GpuSequence gpu;
    double worst = 0;  // |gpu - cpu| / max|cpu| over the last logits

    Fed(const Model& model, const std::vector<int32_t>& prompt, KvTypes type, uint32_t chunk)
        : cpu(model, settings(model, type)), gpu(validated_context(), model, settings(model, type), options(chunk)) {
        const std::span<const int32_t> context(prompt.data(), prompt.size() - 1);
        const uint32_t last = static_cast<uint32_t>(context.size());
        for (uint32_t pos = 0; pos < last; pos++) cpu.feed(context[pos], pos);
        const std::vector<float> want = cpu.forward(prompt.back(), last);
        gpu.feed(context, 0);
        const std::vector<float> got = gpu.forward(prompt.back(), last);
        double scale = 0;
        for (size_t i = 0; i < want.size(); i++) {
            scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
            worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
        }
        worst /= scale;
    }
    static CacheSettings settings(const Model& model, KvTypes type) {
        CacheSettings s = full_cache(model.config.context);
        s.kv_type = type;
        return s;
    }
    static GpuOptions options(uint32_t chunk) {
        GpuOptions o;
        o.prompt_chunk = chunk;
        return o;
    }
};

// The logits' bound, max|logit| relative: the larger of the two types' (stored_type_tolerance).
double gpu_tolerance(KvTypes type) {
    return std::max(stored_type_tolerance(type.k, 2e-6), stored_type_tolerance(type.v, 2e-6));
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE(
    "gemma3: its window layers hold their window in prompt chunks that fill it, the same slots and logits as the "
    "CPU's, f32 and f16") {
    const auto [model, record, prompt] = arch_file("gemma3");
    REQUIRE(prompt.size() == 19);  // past the window of 8
    for (KvType type : {KvType::f32, KvType::f16}) {
        const std::string storage = kv_type_name(type);
        CAPTURE(storage);
        Fed fed(model, prompt, type, 16);  // the window fills inside the first chunk
        CHECK(fed.worst < gpu_tolerance(type));
        // The window layers hold the last 7 tokens between steps (8 with the next one's), the global layer all 19.
        CHECK((fed.cpu.cache().length(0, 0) == 7 && fed.cpu.cache().length(1, 1) == 7 &&
               fed.cpu.cache().length(2, 0) == 19));
        CHECK(fed.gpu.entries() == 19);
        CHECK(fed.gpu.batch().kv_bytes_held(0) == (7 + 7 + 19) * kv_layer_entry_bytes(model.config, type));
        for (uint32_t l = 0; l < 3; l++) {
            CAPTURE(l);
            CHECK(fed.gpu.cache().capacity(l) == (l < 2 ? 8u : 256u));
            CHECK(same_tables(fed.gpu.cache().read_layer(l), snapshot_of(fed.cpu.cache(), l, model.config.n_heads),
                              fed.gpu.cache().capacity(l)));
        }
        std::vector<uint32_t> held;
        const CacheView view = fed.gpu.cache().view();
        for (const HeldEntry& e : view.entries(0, 0)) held.push_back(e.position);
        CHECK(held == std::vector<uint32_t>{12, 13, 14, 15, 16, 17, 18});
    }
    check_no_validation_messages();
}

TEST_CASE("a 151,936-token vocabulary (Qwen's): planned, classified, argmax and top-p over all of it, GPU as CPU") {
    const Model model = random_model("vocab_151936.gguf", small_gqa_config(151936, 64), 3);
    const MemoryPlan plan = plan_memory(model, {full_cache(16)}, validated_context().info().max_buffer_bytes());
    CHECK(plan.weights >= uint64_t{151936} * 32 * 4 * 2);  // the embedding and the classifier, f32
    CpuEngine cpu_engine(model, {full_cache(16)});
    GpuSequence gpu(validated_context(), model, 16);
    Sequence cpu(cpu_engine);
    // Every logit, the last row of the classifier included.
    const std::vector<float> want = cpu.forward(1, 0), got = gpu.forward(1, 0);
    REQUIRE(got.size() == 151936);
    double scale = 0, err = 0;
    for (size_t i = 0; i < want.size(); i++) {
        scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
        err = std::max(err, static_cast<double>(std::fabs(got[i] - want[i])));
    }
    CHECK(err / scale < 1e-4);
    // Greedy on the device and nucleus sampling on the host, alternately: the same tokens.
    Sampler greedy({0.0f, 1.0f, 0}), nucleus_cpu({0.9f, 0.95f, 11}), nucleus_gpu({0.9f, 0.95f, 11});
    int32_t a = 1, b = 1;
    for (uint32_t pos = 1; pos < 9; pos++) {
        a = cpu.next_token(a, pos, pos % 2 ? greedy : nucleus_cpu);
        b = gpu.next_token(b, pos, pos % 2 ? greedy : nucleus_gpu);
        REQUIRE(a == b);
    }
    check_no_validation_messages();
}

}  // TEST_SUITE("gpu")

// The architectures' GPU runs: a suite of its own, left out of the sanitizer pass (its host
// code is what the gpu suite runs there; gemma3's cache per layer included).
TEST_SUITE("arch") {

TEST_CASE(
    "architectures on the GPU: llama3, qwen2, qwen3, phi3, smollm3, granite, gemma3 give llama.cpp's logits within "
    "1e-4 (gemma3: 4e-4, and 1e-4 with llama.cpp's f16 GELU)") {
    for (const std::string name : kArchitectures) {
        CAPTURE(name);
        ArchFile f = arch_file(name);
        GpuSequence gpu(validated_context(), f.model, f.model.config.context);
        const double worst = worst_logit_error(gpu, f.prompt, f.record.at("logits"));
        MESSAGE(name << " on the GPU: worst |logit error| / max|logit| = " << worst);
        CHECK(worst < tolerance(name));
        if (name != "gemma3") continue;
        use_llama_cpp_gelu(f.model);
        GpuSequence like_llama_cpp(validated_context(), f.model, f.model.config.context);
        const double worst_rounded = worst_logit_error(like_llama_cpp, f.prompt, f.record.at("logits"));
        MESSAGE("gemma3 on the GPU with GELU through f16: worst |logit error| / max|logit| = " << worst_rounded);
        CHECK(worst_rounded < 1e-4);
    }
    check_no_validation_messages();
}

TEST_CASE("architectures: in prompt chunks of 16, every K/V type and a mixed one, the GPU gives the CPU's logits") {
    for (const std::string name : kArchitectures) {
        CAPTURE(name);
        const auto [model, record, prompt] = arch_file(name);
        for (KvTypes type : {KvTypes(KvType::f32), KvTypes(KvType::f16), KvTypes(KvType::q8_0), KvTypes(KvType::q4_0),
                             KvTypes(KvType::q8_0, KvType::f16)}) {
            const std::string storage = kv_types_name(type);
            CAPTURE(storage);
            CHECK(Fed(model, prompt, type, 16).worst < gpu_tolerance(type));
        }
    }
    check_no_validation_messages();
}

TEST_CASE("architectures: all policies in one batch run past the context; the GPU's greedy text is the CPU's") {
    for (const std::string name : kArchitectures) {
        CAPTURE(name);
        const auto [model, record, prompt] = arch_file(name);
        // A sequence per compressing policy, decoded together: f16 keys and values under
        // WeightedKV, f32 under the others.
        std::vector<CacheSettings> settings;
        for (PolicyKind kind : compressing_policies()) {
            PolicyRequest r;
            r.kind = kind;
            r.budget = 24;
            settings.push_back({resolve_policy(r, model.config.context), PositionMode::cache_index,
                                kind == PolicyKind::weightedkv ? KvType::f16 : KvType::f32});
        }
        const uint32_t B = static_cast<uint32_t>(settings.size());
        CpuEngine cpu(model, settings);
        const std::unique_ptr<BatchEngine> gpu = make_gpu_engine(validated_context(), model, settings);
        const std::span<const int32_t> context(prompt.data(), prompt.size() - 1);
        for (uint32_t b = 0; b < B; b++) {
            cpu.prefill(b, context, 0, false);
            gpu->prefill(b, context, 0, false);  // one prompt chunk on the device
        }
        const uint32_t end = model.config.context + 64;  // past the trained context
        decode_in_lockstep(cpu, *gpu, settings, prompt.back(), static_cast<uint32_t>(context.size()), end);
        for (uint32_t b = 0; b < B; b++) CHECK(gpu->entries(b) == 24);
        if (name != "gemma3") continue;
        // The policies compress the global layer (2) only; each window layer holds its last 7 positions
        // whatever the policy, and merges nothing.
        for (uint32_t b = 0; b < B; b++) {
            CAPTURE(describe(settings[b].policy));
            const CacheView view = gpu->cache_view(b);
            for (uint32_t h = 0; h < model.config.n_kv_heads; h++) {
                for (uint32_t l = 0; l < 2; l++) {
                    std::vector<uint32_t> held;
                    for (const HeldEntry& e : view.entries(l, h)) held.push_back(e.position);
                    CHECK(held == std::vector<uint32_t>{end - 7, end - 6, end - 5, end - 4, end - 3, end - 2, end - 1});
                    CHECK(view.counts[l * model.config.n_kv_heads + h].merges == 0);
                }
                CHECK(view.entries(2, h).size() == 24);
            }
            const uint64_t held = (7 + 7 + 24) * kv_layer_entry_bytes(model.config, settings[b].kv_type);
            CHECK((cpu.kv_bytes_held(b) == held && gpu->kv_bytes_held(b) == held));
        }
    }
    check_no_validation_messages();
}

}  // TEST_SUITE("arch")
