// The C API (include/wkv.h) as an application sees it: linked against
// libwkv.so and nothing else of wkv, so a symbol the library fails to export,
// or a C++ type leaking through the header, fails the build of this suite.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <wkv.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "poisoned_model.hpp"

namespace {

std::string shared_file(const std::string& relative) {
    const char* env = std::getenv("WKV_SHARED");
    const std::string path = std::string(env && *env ? env : WKV_SHARED_DIR) + "/" + relative;
    REQUIRE_MESSAGE(std::ifstream(path).good(), "missing shared test data: " << path);
    return path;
}

const nlohmann::json& reference() {
    static const nlohmann::json ref = [] {
        std::ifstream in(shared_file("models/stories260K.reference.json"));
        return nlohmann::json::parse(in);
    }();
    return ref;
}

// stories260K with its tokenizer; freed at the end of the test.
struct Story {
    wkv_model* model = nullptr;
    Story() {
        const wkv_status s = wkv_model_load(shared_file("models/stories260K.bin").c_str(),
                                            shared_file("models/tok512.bin").c_str(), &model);
        REQUIRE_MESSAGE(s == WKV_OK, wkv_last_error());
    }
    ~Story() { wkv_model_free(model); }
};

struct Context {
    wkv_context* ctx = nullptr;
    Context(const wkv_model* model, const wkv_context_params& params) {
        const wkv_status s = wkv_context_create(model, &params, &ctx);
        REQUIRE_MESSAGE(s == WKV_OK, wkv_last_error());
    }
    ~Context() { wkv_context_free(ctx); }
};

wkv_context_params on(bool cpu, const wkv_cache_params* caches = nullptr, uint32_t n = 1) {
    wkv_context_params p = wkv_context_params_default();
    p.cpu = cpu;
    p.n_sequences = n;
    p.caches = caches;
    return p;
}

wkv_cache_params policy(const char* name, uint32_t budget) {
    wkv_cache_params c = wkv_cache_params_default();
    c.policy = name;
    c.budget = budget;
    return c;
}

// The full cache in f32, for comparisons with references computed in f32 (the default is f16).
const wkv_cache_params kF32Cache = [] {
    wkv_cache_params c = wkv_cache_params_default();
    c.type_k = c.type_v = WKV_KV_F32;
    return c;
}();

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

int32_t greedy(wkv_context* ctx, uint32_t seq, wkv_sampler* sampler) {
    int32_t token = -1;
    const wkv_status s = wkv_sample(ctx, seq, sampler, &token);
    REQUIRE_MESSAGE(s == WKV_OK, wkv_last_error());
    return token;
}

int append_text(const char* bytes, size_t n, void* out) {
    static_cast<std::string*>(out)->append(bytes, n);
    return 1;
}

}  // namespace

TEST_SUITE("capi") {

TEST_CASE("version, status names and errors in one line") {
    CHECK(std::string(wkv_version()) == std::to_string(WKV_VERSION_MAJOR) + "." + std::to_string(WKV_VERSION_MINOR) +
                                            "." + std::to_string(WKV_VERSION_PATCH));
    CHECK(std::string(wkv_commit()).size() > 0);
    CHECK(std::string(wkv_status_name(WKV_ERROR_CACHE_FULL)) == "WKV_ERROR_CACHE_FULL");
    CHECK(std::string(wkv_status_name(WKV_ERROR_NOT_FINITE)) == "WKV_ERROR_NOT_FINITE");

    wkv_model* model = nullptr;
    CHECK(wkv_model_load("/nonexistent/model.gguf", nullptr, &model) == WKV_ERROR_BAD_FILE);
    CHECK(model == nullptr);
    CHECK(one_line(wkv_last_error()));
    CHECK(std::string(wkv_last_error()).find("/nonexistent/model.gguf") != std::string::npos);
    CHECK(wkv_model_load(nullptr, nullptr, &model) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()) == "wkv_model_load: model_path is NULL");
    // A llama2.c model has no vocabulary of its own.
    CHECK(wkv_model_load(shared_file("models/stories260K.bin").c_str(), nullptr, &model) == WKV_ERROR_BAD_FILE);
    CHECK(std::string(wkv_last_error()).find("pass -t TOKENIZER") != std::string::npos);
    wkv_model_free(nullptr);
    wkv_context_free(nullptr);
    wkv_sampler_free(nullptr);
}

TEST_CASE("model info, tokens and text") {
    Story story;
    wkv_model_info info{};
    REQUIRE(wkv_model_get_info(story.model, &info) == WKV_OK);
    CHECK(info.vocab_size == 512);
    CHECK(info.context_length == 512);
    CHECK(info.n_layers == 5);
    CHECK(info.n_kv_heads == 4);
    CHECK(info.head_dim == 8);
    CHECK(info.bos == 1);
    CHECK(info.eos == 2);

    const std::string text = "Once upon a time, there was a little girl named Lily.";
    size_t n = 0;
    CHECK(wkv_tokenize(story.model, text.data(), text.size(), 1, nullptr, 0, &n) == WKV_ERROR_BUFFER_TOO_SMALL);
    REQUIRE(n > 1);
    std::vector<int32_t> ids(n);
    REQUIRE(wkv_tokenize(story.model, text.data(), text.size(), 1, ids.data(), ids.size(), &n) == WKV_OK);
    CHECK(ids.front() == 1);  // BOS
    // The reference's greedy story starts with this sentence.
    const std::vector<int32_t> story_ids = reference().at("greedy_ids_256").get<std::vector<int32_t>>();
    CHECK(std::vector<int32_t>(ids.begin() + 1, ids.end()) ==
          std::vector<int32_t>(story_ids.begin(), story_ids.begin() + static_cast<long>(n - 1)));

    std::string back(text.size(), '\0');
    size_t bytes = 0;
    REQUIRE(wkv_detokenize(story.model, ids.data() + 1, n - 1, back.data(), back.size(), &bytes) == WKV_OK);
    CHECK(back.substr(0, bytes) == text);
    char piece[16];
    REQUIRE(wkv_token_to_piece(story.model, 1, ids[1], piece, sizeof piece, &bytes) == WKV_OK);
    CHECK(std::string(piece, bytes) == "Once");  // no leading space after BOS
    CHECK(wkv_token_to_piece(story.model, 1, 512, piece, sizeof piece, &bytes) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_token_is_end(story.model, 2));
    CHECK(!wkv_token_is_end(story.model, ids[1]));

    // The model names no chat template, so one must be named.
    const wkv_chat_message messages[] = {{"system", "Be brief."}, {"user", "Hi"}};
    CHECK(wkv_chat_apply_template(story.model, nullptr, messages, 2, nullptr, 0, &n) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()).find("template_name") != std::string::npos);
    CHECK(wkv_chat_apply_template(story.model, "jinja", messages, 2, nullptr, 0, &n) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_chat_apply_template(story.model, "llama2", messages, 2, nullptr, 0, &n) == WKV_ERROR_BUFFER_TOO_SMALL);
    std::vector<int32_t> chat(n);
    REQUIRE(wkv_chat_apply_template(story.model, "llama2", messages, 2, chat.data(), chat.size(), &n) == WKV_OK);
    CHECK(chat.front() == 1);
    // A template the vocabulary cannot spell is refused in the API's words, not the CLI's.
    CHECK(wkv_chat_apply_template(story.model, "chatml", messages, 2, chat.data(), chat.size(), &n) ==
          WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()).find("<|im_end|>") != std::string::npos);
    CHECK(std::string(wkv_last_error()).find("--") == std::string::npos);
    const wkv_chat_message bad_role[] = {{"robot", "Hi"}};
    CHECK(wkv_chat_apply_template(story.model, "chatml", bad_role, 1, chat.data(), chat.size(), &n) ==
          WKV_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("greedy on the CPU, token by token: the reference's 256 tokens, and its logits within 1e-4") {
    Story story;
    Context c(story.model, on(true, &kF32Cache));
    wkv_sampler* sampler = nullptr;
    REQUIRE(wkv_sampler_create(0.0f, 1.0f, 0, &sampler) == WKV_OK);
    const std::vector<float> expected = reference().at("logits").at("0").get<std::vector<float>>();
    int32_t token = 1;
    REQUIRE(wkv_prefill(c.ctx, 0, &token, 1) == WKV_OK);
    std::vector<float> logits(512);
    REQUIRE(wkv_get_logits(c.ctx, 0, logits.data(), logits.size()) == WKV_OK);
    double worst = 0;
    for (size_t i = 0; i < logits.size(); i++) worst = std::max(worst, std::fabs(double{logits[i]} - expected[i]));
    CHECK(worst < 1e-4);
    std::vector<int32_t> ids;
    for (int i = 0; i < 256; i++) {
        token = greedy(c.ctx, 0, sampler);
        ids.push_back(token);
        REQUIRE(wkv_prefill(c.ctx, 0, &token, 1) == WKV_OK);
    }
    CHECK(ids == reference().at("greedy_ids_256").get<std::vector<int32_t>>());
    uint32_t length = 0;
    REQUIRE(wkv_sequence_length(c.ctx, 0, &length) == WKV_OK);
    CHECK(length == 257);
    wkv_sampler_free(sampler);
}

TEST_CASE("wkv_generate on Vulkan gives the reference text, as `wkv generate` does") {
    Story story;
    Context c(story.model, on(false));
    CHECK(std::string(wkv_context_device_name(c.ctx)).size() > 0);
    const int32_t bos = 1;
    std::string text;
    uint32_t generated = 0;
    REQUIRE(wkv_generate(c.ctx, 0, &bos, 1, 256, 0.0f, 1.0f, 0, 0, append_text, &text, &generated) == WKV_OK);
    CHECK(generated == 256);
    CHECK(text == reference().at("greedy_text_256_steps").get<std::string>());

    // A callback that stops: the text so far, and the count.
    struct Stop {
        int calls = 0;
    } stop;
    auto stop_after_three = [](const char*, size_t, void* user) {
        return ++static_cast<Stop*>(user)->calls < 3 ? 1 : 0;
    };
    REQUIRE(wkv_generate(c.ctx, 0, &bos, 1, 256, 0.0f, 1.0f, 0, 0, stop_after_three, &stop, &generated) == WKV_OK);
    CHECK(stop.calls == 3);
    CHECK(generated == 3);
}

TEST_CASE("seeded sampling repeats itself; settings out of range are refused") {
    Story story;
    Context c(story.model, on(true, nullptr, 2));
    const int32_t bos = 1;
    std::vector<int32_t> runs[2];
    for (uint32_t seq = 0; seq < 2; seq++) {
        wkv_sampler* sampler = nullptr;
        REQUIRE(wkv_sampler_create(1.0f, 0.9f, 42, &sampler) == WKV_OK);
        int32_t token = bos;
        for (int i = 0; i < 40; i++) {
            REQUIRE(wkv_prefill(c.ctx, seq, &token, 1) == WKV_OK);
            token = greedy(c.ctx, seq, sampler);
            runs[seq].push_back(token);
        }
        wkv_sampler_free(sampler);
    }
    CHECK(runs[0] == runs[1]);
    CHECK(runs[0] != std::vector<int32_t>(reference().at("greedy_ids_256").begin(),
                                          reference().at("greedy_ids_256").begin() + 40));

    wkv_sampler* sampler = nullptr;
    CHECK(wkv_sampler_create(std::nanf(""), 0.9f, 1, &sampler) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_sampler_create(1.0f, 0.0f, 1, &sampler) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(sampler == nullptr);
}

TEST_CASE("weightedkv on the CPU and on Vulkan: the cache stays at its budget, evictions and merges counted") {
    Story story;
    const wkv_cache_params cache = policy("weightedkv", 32);
    const std::vector<int32_t> story_ids = reference().at("greedy_ids_256").get<std::vector<int32_t>>();
    std::vector<int32_t> prompt = {1};
    prompt.insert(prompt.end(), story_ids.begin(), story_ids.begin() + 99);  // 100 tokens
    for (bool cpu : {true, false}) {
        CAPTURE(cpu);
        Context c(story.model, on(cpu, &cache));
        REQUIRE(wkv_prefill(c.ctx, 0, prompt.data(), prompt.size()) == WKV_OK);
        wkv_cache_stats stats{};
        REQUIRE(wkv_cache_get_stats(c.ctx, 0, &stats) == WKV_OK);
        CHECK(stats.entries == 32);
        CHECK(stats.budget == 32);
        // 5 layers x 4 KV heads x 8 dims x (key + value) x 2 bytes (f16, the default) an entry.
        CHECK(stats.bytes_in_use == 32u * 5 * 4 * 8 * 2 * 2);
        // Every layer and KV head dropped 100 - 32 entries, each merged into its neighbour.
        CHECK(stats.evictions == 68u * 5 * 4);
        CHECK(stats.merges == stats.evictions);

        wkv_context_params params = on(cpu, &cache);
        wkv_memory_plan plan{};
        REQUIRE(wkv_plan_memory(story.model, &params, &plan) == WKV_OK);
        CHECK(plan.kv_cache_bytes == stats.bytes_allocated);
        CHECK(plan.fits == 1);
        CHECK(plan.why_not[0] == '\0');

        REQUIRE(wkv_sequence_reset(c.ctx, 0) == WKV_OK);
        REQUIRE(wkv_cache_get_stats(c.ctx, 0, &stats) == WKV_OK);
        CHECK(stats.entries == 0);
        CHECK(stats.evictions == 0);

        // Keys in q8_0, values in q4_0: a row of 8 dims is one block of 32, padded, with its
        // f16 scale in a word of its own: 4 + 32 bytes (q8_0) and 4 + 16 (q4_0).
        wkv_cache_params quantised = cache;
        quantised.type_k = WKV_KV_Q8_0;
        quantised.type_v = WKV_KV_Q4_0;
        Context q(story.model, on(cpu, &quantised));
        REQUIRE(wkv_prefill(q.ctx, 0, prompt.data(), prompt.size()) == WKV_OK);
        REQUIRE(wkv_cache_get_stats(q.ctx, 0, &stats) == WKV_OK);
        CHECK(stats.entries == 32);
        CHECK(stats.bytes_in_use == 32u * 5 * 4 * (36 + 20));
        CHECK(stats.merges == 68u * 5 * 4);
    }
}

TEST_CASE("Llama 3, Qwen2 and Qwen3 GGUFs with their own vocabularies: llama.cpp's token ids and logits") {
    for (const std::string name : {"llama3", "qwen2", "qwen3"}) {
        CAPTURE(name);
        const std::string base = "models/arch/" + name + "-random";
        std::ifstream in(shared_file(base + ".json"));
        const nlohmann::json ref = nlohmann::json::parse(in);
        wkv_model* model = nullptr;
        REQUIRE_MESSAGE(wkv_model_load(shared_file(base + ".gguf").c_str(), nullptr, &model) == WKV_OK,
                        wkv_last_error());
        const std::string prompt = ref.at("prompt").get<std::string>();
        std::vector<int32_t> ids(256);
        size_t n = 0;
        REQUIRE(wkv_tokenize(model, prompt.data(), prompt.size(), 1, ids.data(), ids.size(), &n) == WKV_OK);
        ids.resize(n);
        CHECK(ids == ref.at("token_ids").get<std::vector<int32_t>>());
        const std::vector<float> want = ref.at("logits").back().get<std::vector<float>>();
        double scale = 0;
        for (float x : want) scale = std::max(scale, std::fabs(double{x}));
        for (bool cpu : {true, false}) {
            CAPTURE(cpu);
            Context c(model, on(cpu, &kF32Cache));
            REQUIRE(wkv_prefill(c.ctx, 0, ids.data(), ids.size()) == WKV_OK);
            std::vector<float> got(want.size());
            REQUIRE(wkv_get_logits(c.ctx, 0, got.data(), got.size()) == WKV_OK);
            double worst = 0;
            for (size_t i = 0; i < want.size(); i++) worst = std::max(worst, std::fabs(double{got[i]} - want[i]));
            CHECK(worst / scale < 1e-4);
        }
        wkv_model_free(model);
    }
}

TEST_CASE("hostile calls: every one refused with its status, nothing moves") {
    Story story;
    const wkv_cache_params full = policy("full", 8);
    Context c(story.model, on(true, &full));
    std::vector<int32_t> eight(8, 1);
    REQUIRE(wkv_prefill(c.ctx, 0, eight.data(), eight.size()) == WKV_OK);
    const int32_t one = 5;
    CHECK(wkv_prefill(c.ctx, 0, &one, 1) == WKV_ERROR_CACHE_FULL);
    CHECK(one_line(wkv_last_error()));
    uint32_t length = 0;
    REQUIRE(wkv_sequence_length(c.ctx, 0, &length) == WKV_OK);
    CHECK(length == 8);

    const int32_t outside = 512;
    REQUIRE(wkv_sequence_reset(c.ctx, 0) == WKV_OK);
    CHECK(wkv_prefill(c.ctx, 0, &outside, 1) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()).find("outside the vocabulary") != std::string::npos);
    CHECK(wkv_prefill(c.ctx, 1, &one, 1) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_prefill(c.ctx, 0, nullptr, 1) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_prefill(c.ctx, 0, &one, 0) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(wkv_prefill(nullptr, 0, &one, 1) == WKV_ERROR_INVALID_ARGUMENT);
    float logits[512];
    CHECK(wkv_get_logits(c.ctx, 0, logits, 512) == WKV_ERROR_INVALID_ARGUMENT);  // nothing fed since the reset
    REQUIRE(wkv_prefill(c.ctx, 0, &one, 1) == WKV_OK);
    CHECK(wkv_get_logits(c.ctx, 0, logits, 100) == WKV_ERROR_BUFFER_TOO_SMALL);
    CHECK(wkv_get_logits(c.ctx, 0, logits, 512) == WKV_OK);

    // Cache settings: an unknown policy, settings the policy does not take, out of range.
    wkv_context* ctx = nullptr;
    wkv_cache_params bad = policy("lru", 16);
    wkv_context_params params = on(true, &bad);
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()).find("weightedkv") != std::string::npos);  // the names it takes
    bad = policy("weightedkv", 0);
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    bad = policy("streaming", 16);
    bad.sinks = -7;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    bad = policy("full", 16);
    bad.sinks = 4;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    bad = policy("full", 513);  // past the model's context
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    bad = policy("full", 16);
    bad.type_v = 4;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(wkv_last_error()) == "type_v 4 is not a wkv_kv_type (0 f32, 1 f16, 2 q8_0, 3 q4_0)");
    params.n_sequences = 0;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_INVALID_ARGUMENT);
    params = on(false);
    params.device = 99;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_DEVICE);
    CHECK(std::string(wkv_last_error()).find("no Vulkan device 99") != std::string::npos);
    CHECK(ctx == nullptr);
}

TEST_CASE("wkv_generate checks every prompt token before it feeds one: a bad last token leaves the sequence empty") {
    Story story;
    const std::vector<int32_t> ids = reference().at("greedy_ids_256").get<std::vector<int32_t>>();
    std::vector<int32_t> prompt(ids.begin(), ids.begin() + 40);
    prompt.back() = 512;  // outside the vocabulary
    const std::vector<int32_t> next(ids.begin(), ids.begin() + 10);
    for (const bool cpu : {true, false}) {
        CAPTURE(cpu);
        const wkv_cache_params weighted = policy("weightedkv", 32);
        Context used(story.model, on(cpu, &weighted)), fresh(story.model, on(cpu, &weighted));
        CHECK(wkv_generate(used.ctx, 0, prompt.data(), prompt.size(), 8, 0.0f, 1.0f, 0, 0, nullptr, nullptr, nullptr) ==
              WKV_ERROR_INVALID_ARGUMENT);
        CHECK(std::string(wkv_last_error()).find("token id 512 is outside the vocabulary") != std::string::npos);
        uint32_t length = 99;
        REQUIRE(wkv_sequence_length(used.ctx, 0, &length) == WKV_OK);
        CHECK(length == 0);
        wkv_cache_stats stats{};
        REQUIRE(wkv_cache_get_stats(used.ctx, 0, &stats) == WKV_OK);
        CHECK(stats.entries == 0);
        // What comes next is as in a context never touched, to the bit.
        std::vector<float> a(512), b(512);
        REQUIRE(wkv_prefill(used.ctx, 0, next.data(), next.size()) == WKV_OK);
        REQUIRE(wkv_prefill(fresh.ctx, 0, next.data(), next.size()) == WKV_OK);
        REQUIRE(wkv_get_logits(used.ctx, 0, a.data(), a.size()) == WKV_OK);
        REQUIRE(wkv_get_logits(fresh.ctx, 0, b.data(), b.size()) == WKV_OK);
        CHECK(a == b);
    }
}

TEST_CASE("a model whose logits are not finite: WKV_ERROR_NOT_FINITE, from wkv_generate and wkv_sample") {
    // stories260K with BOS's embedding row (and so its logit, the classifier being tied) NaN.
    const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/wkv_capi_nan.bin";
    REQUIRE(wkv::test::write_poisoned_llama2c(shared_file("models/stories260K.bin"), path, {1}, /*untie=*/false));
    wkv_model* model = nullptr;
    REQUIRE(wkv_model_load(path.c_str(), shared_file("models/tok512.bin").c_str(), &model) == WKV_OK);
    for (const bool cpu : {true, false}) {
        CAPTURE(cpu);
        Context c(model, on(cpu));
        const int32_t prompt[] = {1, 403, 407};
        CHECK(wkv_generate(c.ctx, 0, prompt, 3, 8, 0.0f, 1.0f, 0, 0, nullptr, nullptr, nullptr) ==
              WKV_ERROR_NOT_FINITE);
        CHECK(std::string(wkv_last_error()).find("not finite") != std::string::npos);
        uint32_t length = 99;
        REQUIRE(wkv_sequence_length(c.ctx, 0, &length) == WKV_OK);
        CHECK(length == 0);
        REQUIRE(wkv_prefill(c.ctx, 0, prompt, 3) == WKV_OK);
        wkv_sampler* sampler = nullptr;
        REQUIRE(wkv_sampler_create(1.0f, 1.0f, 1, &sampler) == WKV_OK);
        int32_t token = 0;
        CHECK(wkv_sample(c.ctx, 0, sampler, &token) == WKV_ERROR_NOT_FINITE);
        wkv_sampler_free(sampler);
    }
    wkv_model_free(model);
    std::remove(path.c_str());
}

TEST_CASE("wkv_plan_memory on the CPU weighs the plan against the host's available memory") {
    Story story;
    wkv_context_params params = on(true);
    wkv_memory_plan plan{};
    REQUIRE(wkv_plan_memory(story.model, &params, &plan) == WKV_OK);
    CHECK(plan.fits == 1);
    CHECK(plan.device_free_bytes > plan.total_bytes);  // MemAvailable: this machine holds stories260K
    ::setenv("WKV_HOST_MEMORY", "100000", 1);          // bytes: less than its weights
    REQUIRE(wkv_plan_memory(story.model, &params, &plan) == WKV_OK);
    CHECK(plan.fits == 0);
    CHECK(plan.device_free_bytes == 100000);
    CHECK(std::string(plan.why_not).find("host") != std::string::npos);
    ::unsetenv("WKV_HOST_MEMORY");
}

TEST_CASE("a device too small: the plan says so before anything is uploaded, and the context is refused") {
    Story story;
    ::setenv("WKV_DEVICE_MEMORY", "100000", 1);  // bytes: less than stories260K's weights
    wkv_context_params params = on(false);
    wkv_memory_plan plan{};
    REQUIRE(wkv_plan_memory(story.model, &params, &plan) == WKV_OK);
    CHECK(plan.fits == 0);
    CHECK(plan.device_free_bytes == 100000);
    CHECK(std::string(plan.why_not).find("weights") != std::string::npos);
    wkv_context* ctx = nullptr;
    CHECK(wkv_context_create(story.model, &params, &ctx) == WKV_ERROR_DEVICE);
    CHECK(std::string(wkv_last_error()).find("weights") != std::string::npos);
    ::unsetenv("WKV_DEVICE_MEMORY");
}

}  // TEST_SUITE("capi")
