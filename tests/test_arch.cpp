// Today's Llama-family architectures (../shared/models/arch: random weights,
// llama.cpp's logits): Llama 3 (byte-level BPE, RoPE frequency factors, tied
// embeddings), Qwen2 (Q/K/V biases, NEOX RoPE, no BOS), Qwen3 (Q/K head
// norms, a head size that is not dim / heads), SmolLM3 (no RoPE in every
// fourth layer) and Granite (embedding, attention, residual and logit
// multipliers). The prompt's ids and the logits at every position, against
// llama.cpp's own.
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

TEST_SUITE("reference") {

TEST_CASE(
    "architectures on the CPU: llama3, qwen2, qwen3, smollm3, granite give llama.cpp's prompt ids and logits "
    "within 1e-4") {
    for (const std::string name : {"llama3", "qwen2", "qwen3", "phi3", "smollm3", "granite"}) {
        CAPTURE(name);
        const Model model = load_model(shared_file("models/arch/" + name + "-random.gguf"));
        const Json record = shared_json("models/arch/" + name + "-random.json");
        REQUIRE(model.vocabulary);
        const Tokenizer tokenizer = Tokenizer::from_vocabulary(*model.vocabulary);
        CHECK(tokenizer.encode_prompt(record.at("prompt").get<std::string>()) == to_ids(record.at("token_ids")));
        // A cache of the whole context, as llama.cpp ran: Phi-3's LongRoPE takes its long factors for it.
        Reference cpu(model, model.config.context);
        const double worst = worst_logit_error(cpu, to_ids(record.at("token_ids")), record.at("logits"));
        MESSAGE(name << ": worst |logit error| / max|logit| = " << worst);
        CHECK(worst < 1e-4);
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
}

TEST_CASE(
    "what wkv does not run is refused in one line, exit 2: YaRN scaling, an unknown pre-tokenizer, Gemma 3 and "
    "Phi-3 for now") {
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
    // Gemma 3 is not run yet: refused by name, with the list of what is.
    const std::string runs = "wkv runs 'llama', 'qwen2', 'qwen3', 'phi3', 'smollm3', 'granite'";
    for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"info", "-m", yarn}, "llama.rope.scaling.type is 'yarn': only linear RoPE scaling is supported"},
             {{"tokenize", "-m", vocab, "-p", "ab"}, "tokenizer.ggml.pre is 'tekken', which wkv does not know"},
             {{"info", "-m", shared_file("models/arch/gemma3-random.gguf")}, "is 'gemma3'; " + runs},
         }) {
        const RunResult r = run_wkv(args);
        CHECK(r.exit_code == 2);
        CHECK_MESSAGE(r.err.find(message) != std::string::npos, r.err);
        CHECK(r.err.find('\n') == r.err.size() - 1);
    }
}

}  // TEST_SUITE("reference")

TEST_SUITE("gpu") {

TEST_CASE(
    "architectures on the GPU: llama3, qwen2, qwen3, phi3, smollm3, granite give llama.cpp's logits within 1e-4") {
    for (const std::string name : {"llama3", "qwen2", "qwen3", "phi3", "smollm3", "granite"}) {
        CAPTURE(name);
        const Model model = load_model(shared_file("models/arch/" + name + "-random.gguf"));
        GpuSequence gpu(validated_context(), model, model.config.context);
        const Json record = shared_json("models/arch/" + name + "-random.json");
        const double worst = worst_logit_error(gpu, to_ids(record.at("token_ids")), record.at("logits"));
        MESSAGE(name << " on the GPU: worst |logit error| / max|logit| = " << worst);
        CHECK(worst < 1e-4);
    }
    check_no_validation_messages();
}

TEST_CASE("architectures: all policies in one batch run past the context; the GPU's greedy text is the CPU's") {
    for (const std::string name : {"llama3", "qwen2", "qwen3", "phi3", "smollm3", "granite"}) {
        CAPTURE(name);
        const Model model = load_model(shared_file("models/arch/" + name + "-random.gguf"));
        const std::vector<int32_t> prompt = to_ids(shared_json("models/arch/" + name + "-random.json").at("token_ids"));
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
        std::vector<SequenceStep> on_cpu(B, {true, prompt.back(), 0, StepOutput::token, 0}), on_gpu = on_cpu;
        const uint32_t end = model.config.context + 64;  // past the trained context
        for (uint32_t pos = static_cast<uint32_t>(context.size()); pos < end; pos++) {
            for (uint32_t b = 0; b < B; b++) on_cpu[b].pos = on_gpu[b].pos = pos;
            cpu.step(on_cpu);
            gpu->step(on_gpu);
            for (uint32_t b = 0; b < B; b++) {
                on_cpu[b].token = cpu.token(b);
                on_gpu[b].token = gpu->token(b);
                REQUIRE_MESSAGE(on_cpu[b].token == on_gpu[b].token, describe(settings[b].policy)
                                                                        << ": the texts part at position " << pos);
            }
        }
        for (uint32_t b = 0; b < B; b++) CHECK(gpu->entries(b) == 24);
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
