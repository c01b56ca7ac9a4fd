// The Vulkan backend on whatever device the machine has (lavapipe in CI), with
// the Khronos validation layer on: any validation message fails the test.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

#include "conformance.hpp"
#include "error.hpp"
#include "reference.hpp"
#include "sampler.hpp"
#include "support.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// Feeds the same tokens to both engines; returns the worst |gpu - cpu| / max(1, max|cpu logit|).
double worst_logit_error(Reference& cpu, Sequence& gpu, const std::vector<int32_t>& tokens) {
    double worst = 0;
    for (uint32_t pos = 0; pos < tokens.size(); pos++) {
        const std::vector<float> a = cpu.forward(tokens[pos], pos);
        const std::vector<float>& b = gpu.forward(tokens[pos], pos);
        double scale = 1.0, err = 0;
        for (size_t i = 0; i < a.size(); i++) {
            scale = std::max(scale, static_cast<double>(std::fabs(a[i])));
            err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
        }
        worst = std::max(worst, err / scale);
    }
    return worst;
}

std::vector<int32_t> story_tokens(size_t n) {
    std::vector<int32_t> ids = {1};
    for (int32_t id : to_ids(shared_json("models/stories260K.reference.json").at("greedy_ids_256"))) ids.push_back(id);
    ids.resize(n);
    return ids;
}

}  // namespace

TEST_SUITE("gpu") {

TEST_CASE("conformance: every shader against the CPU reference (tolerances beside each check)") {
    for (const ConformanceResult& r : run_conformance(validated_context())) {
        CHECK_MESSAGE(r.pass(), r.shader << " " << r.case_name << ": worst " << r.worst << " > " << r.tolerance << " ("
                                         << r.measure << ")");
    }
    check_no_validation_messages();
}

TEST_CASE("stories260K fp32 on the GPU: logits within 1e-4 of the stored ones, 256 greedy tokens exact") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    const Json ref = shared_json("models/stories260K.reference.json");
    const std::vector<int32_t> expected = to_ids(ref.at("greedy_ids_256"));
    GpuSequence gpu(validated_context(), model, 256);
    int32_t token = 1;
    std::vector<int32_t> got;
    for (uint32_t pos = 0; pos < 256; pos++) {
        const std::vector<float>& logits = gpu.forward(token, pos);
        if (pos < 4) {
            const std::vector<double> stored = ref.at("logits").at(std::to_string(pos)).get<std::vector<double>>();
            double err = 0;
            for (size_t i = 0; i < stored.size(); i++) err = std::max(err, std::fabs(logits[i] - stored[i]));
            CHECK(err < 1e-4);
        }
        token = argmax(logits);
        got.push_back(token);
    }
    CHECK(got == expected);
    check_no_validation_messages();
}

TEST_CASE(
    "real checkpoints, GPU vs CPU logits at every step (stories260K fp32 and q8, eval model f16/q8_0/q4_0, GGUF "
    "fixture)") {
    const std::pair<const char*, size_t> files[] = {
        {"models/stories260K.bin", 64},       {"models/stories260K_q80.bin", 64},
        {"models/wkv-eval-8m.f16.gguf", 24},  {"models/wkv-eval-8m.q8_0.gguf", 24},
        {"models/wkv-eval-8m.q4_0.gguf", 24}, {"models/llama-2-tiny-random.gguf", 24}};
    for (const auto& [file, steps] : files) {
        const Model model = load_model(shared_file(file));
        std::vector<int32_t> tokens = story_tokens(steps);
        for (int32_t& t : tokens) t %= static_cast<int32_t>(model.config.vocab_size);
        for (PositionMode mode : {PositionMode::cache_index, PositionMode::original}) {
            Reference cpu(model, static_cast<uint32_t>(steps), mode);
            GpuSequence gpu(validated_context(), model, static_cast<uint32_t>(steps), mode);
            const double worst = worst_logit_error(cpu, gpu, tokens);
            CHECK_MESSAGE(worst < 1e-4, file << (mode == PositionMode::original ? " original" : " cache-index")
                                             << " worst " << worst);
        }
    }
    check_no_validation_messages();
}

TEST_CASE("the device reads what the CPU reads per token: one row of an untied embedding table") {
    const Model f32 = load_model(shared_file("models/wkv-eval-8m.bin"));
    GpuSequence gpu(validated_context(), f32, 8);
    CHECK(gpu.batch().weight_bytes() == f32.weight_bytes());  // f32 is stored as it is
    CHECK(gpu.batch().bytes_read_per_token() == f32.bytes_read_per_token());
    // q8_0 blocks are padded from 34 to 36 bytes on the device: each row of 288 values holds 9 blocks.
    const Model q8 = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    GpuSequence gpu_q8(validated_context(), q8, 8);
    CHECK(gpu_q8.batch().bytes_read_per_token() == gpu_q8.batch().weight_bytes() - 4096ull * 9 * 36 + 9 * 36);
    check_no_validation_messages();
}

TEST_CASE(
    "a prompt fed in chunks equals it fed token by token, bit for bit: logits and every cache slot, while policies "
    "evict") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    std::vector<int32_t> prompt = {1};
    for (int32_t i = 0; i < 150; i++) prompt.push_back((i * 37 + 11) % 512);
    Context& ctx = validated_context();
    // The chunks' tokens attend together while the cache takes them (all of them for the full
    // cache, the first 32 for the others), then one at a time while the policies evict.
    const std::tuple<PolicyKind, PositionMode, KvType> cases[] = {
        {PolicyKind::full, PositionMode::cache_index, KvType::f32},
        {PolicyKind::weightedkv, PositionMode::cache_index, KvType::f32},
        {PolicyKind::tova, PositionMode::cache_index, KvType::f32},
        {PolicyKind::cam, PositionMode::cache_index, KvType::f32},
        {PolicyKind::full, PositionMode::original, KvType::f16},
        {PolicyKind::h2o, PositionMode::original, KvType::f16}};
    for (const auto& [policy, positions, kv_type] : cases) {
        const PolicyKind kind = policy;  // (doctest's messages capture it: clang captures no structured binding)
        PolicyRequest r;
        r.kind = kind;
        r.budget = kind == PolicyKind::full ? 256 : 32;  // the compressing ones evict inside the chunks
        const CacheSettings settings{resolve_policy(r, 512), positions, kv_type};
        GpuSequence one(ctx, model, settings);
        for (uint32_t pos = 0; pos < prompt.size(); pos++) one.feed(prompt[pos], pos);
        const std::vector<float> expected = one.forward(7, static_cast<uint32_t>(prompt.size()));
        for (uint32_t chunk : {64u, 5u}) {
            GpuOptions options;
            options.prompt_chunk = chunk;
            GpuSequence chunked(ctx, model, settings, options);
            chunked.feed(prompt, 0);
            CHECK_MESSAGE(chunked.forward(7, static_cast<uint32_t>(prompt.size())) == expected,
                          policy_name(kind) << " chunk " << chunk);
            CHECK(chunked.entries() == one.entries());
            for (uint32_t l = 0; l < model.config.n_layers; l++) {
                const KvLayerSnapshot a = one.cache().read_layer(l), b = chunked.cache().read_layer(l);
                CHECK(same_tables(a, b, one.cache().capacity(l)));
                CHECK((a.keys == b.keys && a.values == b.values && a.acc == b.acc && a.cnt == b.cnt));
            }
        }
    }
    check_no_validation_messages();
}

TEST_CASE(
    "a cache split into groups of KV heads (small buffer limits) gives the same logits and the same cache, bit for "
    "bit") {
    // stories260K: 4 KV heads, 2 query heads each. With f16 keys and values
    // at budget 32 (33 slots), a layer in one buffer takes 11,264 bytes, a
    // group of three heads 8,448, of two 6,912 and one head 4,096 (the layer's
    // first group, which holds `last`); the full cache's 32 slots take 9,216,
    // 7,680, 4,864 and 3,328. Each limit below splits both the same way.
    const Model model = load_model(shared_file("models/stories260K.bin"));
    std::vector<int32_t> prompt = {1};
    for (int32_t i = 0; i < 90; i++) prompt.push_back((i * 53 + 7) % 512);
    Context& ctx = validated_context();
    std::vector<PolicyKind> kinds = compressing_policies();
    kinds.push_back(PolicyKind::full);
    for (PolicyKind kind : kinds) {
        PolicyRequest r;
        r.kind = kind;
        r.budget = 32;
        // The full cache takes what fits; the others evict through most of the prompt.
        const std::vector<int32_t> text(
            prompt.begin(),
            prompt.begin() + (kind == PolicyKind::full ? 31 : static_cast<std::ptrdiff_t>(prompt.size())));
        const CacheSettings settings{resolve_policy(r, 512), PositionMode::cache_index, KvType::f16};
        GpuSequence whole(ctx, model, settings);
        REQUIRE(whole.cache().layer(0).size() == 1);
        whole.feed(text, 0);
        const std::vector<float> expected = whole.forward(7, static_cast<uint32_t>(text.size()));
        // limit, then the groups' heads: uneven, even, one head each.
        for (const auto& [limit, heads] :
             {std::pair{9000ull, std::vector<uint32_t>{3, 1}}, std::pair{7500ull, std::vector<uint32_t>{2, 2}},
              std::pair{4500ull, std::vector<uint32_t>{1, 1, 1, 1}}}) {
            GpuOptions options;
            options.max_buffer_bytes = limit;
            GpuSequence split(ctx, model, settings, options);
            std::vector<uint32_t> got;
            for (const KvLayer& g : split.cache().layer(0)) got.push_back(g.n_heads);
            CHECK(got == heads);
            const size_t groups = heads.size();
            split.feed(text, 0);
            CHECK_MESSAGE(split.forward(7, static_cast<uint32_t>(text.size())) == expected,
                          std::string(policy_name(kind)) << " in " << groups << " groups");
            for (uint32_t l = 0; l < model.config.n_layers; l++) {
                const KvLayerSnapshot a = whole.cache().read_layer(l), b = split.cache().read_layer(l);
                CHECK(same_tables(a, b, whole.cache().capacity(l)));
                CHECK((a.keys == b.keys && a.values == b.values && a.acc == b.acc && a.cnt == b.cnt &&
                       a.probs == b.probs));
                CHECK(a.last == b.last);  // TOVA's head mean, carried across the groups
            }
        }
    }
    check_no_validation_messages();
}

TEST_CASE("a decode step is one command buffer of 10 dispatches per layer: Q, K and V stacked, gate and up stacked") {
    // Per layer: rmsnorm, qkv, kv_append, attention, score_accumulate, wo, rmsnorm,
    // gate+up, swiglu, w2; then the embedding, the final rmsnorm and the classifier.
    const Model model = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    GpuSequence gpu(validated_context(), model, 16);
    const HostCounters before = gpu.batch().host_counters();
    gpu.forward(1, 0);
    const HostCounters after = gpu.batch().host_counters();
    CHECK(after.submits - before.submits == 1);
    CHECK(after.dispatches - before.dispatches == 6 * 10 + 3);
    CHECK(after.wait_seconds > before.wait_seconds);
    check_no_validation_messages();
}

TEST_CASE(
    "a prompt chunk the cache takes is 10 dispatches per layer, as a decode step: its tokens are appended and attend "
    "together") {
    // 12 tokens (one matvec batch): per layer one dispatch each of rmsnorm, qkv,
    // kv_append, attention, score_accumulate, wo, rmsnorm, gate+up, swiglu, w2;
    // and an embedding per token. A wave of cache work per token would be 3 more
    // dispatches a layer for every token after the first.
    const Model model = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    GpuSequence gpu(validated_context(), model, 16);
    std::vector<int32_t> prompt(12);
    for (int32_t i = 0; i < 12; i++) prompt[i] = 1 + i * 97;
    const HostCounters before = gpu.batch().host_counters();
    gpu.feed(prompt, 0);
    CHECK(gpu.batch().host_counters().dispatches - before.dispatches == 6 * 10 + 12);
    CHECK(gpu.entries() == 12);
    // A policy with a budget of 8 takes the first 8 together; each of the 4 after them evicts,
    // alone and in order: append, attention, scores and compression, 4 dispatches a layer each.
    PolicyRequest r;
    r.kind = PolicyKind::weightedkv;
    r.budget = 8;
    GpuSequence evicting(validated_context(), model, CacheSettings{resolve_policy(r, 1024), PositionMode::cache_index});
    const HostCounters start = evicting.batch().host_counters();
    evicting.feed(prompt, 0);
    CHECK(evicting.batch().host_counters().dispatches - start.dispatches == 6 * (10 + 4 * 4) + 12);
    CHECK(evicting.entries() == 8);
    check_no_validation_messages();
}

TEST_CASE("greedy decoding picks on the device: the tokens of argmax over the logits, and only a token id comes back") {
    const Model model = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    GpuSequence on_device(validated_context(), model, 40), on_host(validated_context(), model, 40);
    Sampler greedy({0.0f, 1.0f, 0});
    // A varied start, so the greedy continuation is not one token over and over.
    std::vector<int32_t> prompt = {1};
    for (int32_t i = 1; i < 12; i++) prompt.push_back((i * 389 + 17) % static_cast<int32_t>(model.config.vocab_size));
    const std::span<const int32_t> context = std::span<const int32_t>(prompt).first(prompt.size() - 1);
    on_device.feed(context, 0);
    on_host.feed(context, 0);
    int32_t a = prompt.back(), b = prompt.back();
    std::vector<int32_t> tokens;
    for (uint32_t pos = 11; pos < 40; pos++) {
        const HostCounters before = on_device.batch().host_counters();
        a = on_device.next_token(a, pos, greedy);
        // The decode step of the test above, and the argmax.
        CHECK(on_device.batch().host_counters().dispatches - before.dispatches == 6 * 10 + 3 + 1);
        b = argmax(on_host.forward(b, pos));
        CHECK(a == b);
        tokens.push_back(a);
    }
    CHECK(std::set<int32_t>(tokens.begin(), tokens.end()).size() > 3);  // text, not one token over and over
    check_no_validation_messages();
}

TEST_CASE("weights split into many chunks (a small maxStorageBufferRange) give bit-identical logits") {
    const Model model = load_model(shared_file("models/wkv-eval-8m.q8_0.gguf"));
    GpuSequence whole(validated_context(), model, 8);
    GpuSequence split(validated_context(), model, 8, PositionMode::cache_index, {100 * 1024, 64, {}});
    CHECK(split.cache().layer(0).size() == 1);  // a cache of 9 slots still fits one buffer
    // (the stacked Q, K and V of a layer, 864 rows, take three chunks that cut across the parts)
    for (uint32_t pos = 0; pos < 8; pos++) {
        const int32_t token = static_cast<int32_t>(pos * 431 % 4096);
        const std::vector<float> a = whole.forward(token, pos);
        CHECK(split.forward(token, pos) == a);
    }
    CHECK(split.batch().weight_bytes() == whole.batch().weight_bytes());
    check_no_validation_messages();
}

TEST_CASE("the device cache holds what the CPU cache holds, slot for slot, and its size never changes") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    Reference cpu(model, 48);
    GpuSequence gpu(validated_context(), model, 48);
    const uint64_t bytes = gpu.batch().kv_cache_bytes();
    const std::vector<int32_t> tokens = story_tokens(40);
    for (uint32_t pos = 0; pos < tokens.size(); pos++) {
        cpu.forward(tokens[pos], pos);
        gpu.forward(tokens[pos], pos);
    }
    CHECK(gpu.batch().kv_cache_bytes() == bytes);
    // What `wkv ppl` sizes its lanes with before building any ring.
    CHECK(KvCacheRing::bytes_for(model.config, every_layer(model.config, 48), KvType::f32) == bytes);
    for (KvTypes type : {KvTypes(KvType::f32), KvTypes(KvType::f16), KvTypes(KvType::q8_0), KvTypes(KvType::q4_0),
                         KvTypes(KvType::q8_0, KvType::f16)}) {
        for (uint32_t capacity : {1u, 33u, 512u}) {
            CHECK(KvCacheRing::bytes_for(model.config, every_layer(model.config, capacity), type) ==
                  KvCacheRing(validated_context(), model.config, capacity, type).bytes());
        }
    }
    const uint32_t hd = model.config.head_dim();
    for (uint32_t l = 0; l < model.config.n_layers; l++) {
        const KvLayerSnapshot snap = gpu.cache().read_layer(l);
        double worst = 0;
        for (uint32_t h = 0; h < model.config.n_kv_heads; h++) {
            CHECK(snap.counts[kHeadCounts * h] == 40);     // entries
            CHECK(snap.counts[kHeadCounts * h + 1] == 8);  // free slots
            for (uint32_t i = 0; i < 40; i++) {
                const uint32_t slot = cpu.cache().slot(l, h, i);
                REQUIRE(snap.order[h * 48 + i] == slot);
                for (uint32_t d = 0; d < hd; d++) {
                    worst = std::max(worst, static_cast<double>(std::fabs(snap.keys[(h * 48 + slot) * hd + d] -
                                                                          cpu.cache().key(l, h, slot)[d])));
                    worst = std::max(worst, static_cast<double>(std::fabs(snap.values[(h * 48 + slot) * hd + d] -
                                                                          cpu.cache().value(l, h, slot)[d])));
                }
            }
        }
        CHECK(worst < 1e-4);
    }
    check_no_validation_messages();
}

TEST_CASE("a full cache is an error, not a crash") {
    const Model model = load_model(shared_file("models/stories260K.bin"));
    GpuSequence gpu(validated_context(), model, 3);
    for (uint32_t pos = 0; pos < 3; pos++) gpu.forward(1, pos);
    CHECK_THROWS_WITH_AS(gpu.forward(1, 3), "KV cache is full (3 entries per layer and head)", Error);
    CHECK_THROWS_AS(gpu.forward(512, 0), Error);
    check_no_validation_messages();
}

}  // TEST_SUITE("gpu")
