// Every GGUF weight type against llama.cpp itself: the files of
// ../shared/models/quant with llama.cpp's own dequantised values, logits and
// perplexities (its README gives the schema).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <tuple>

#include "quantize.hpp"
#include "reference.hpp"
#include "support.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// The kq-random files: every type pure, and llama.cpp's two default mixes.
const char* const kTypes[] = {"F32",  "F16",  "BF16", "Q8_0", "Q4_0",   "Q4_1",   "Q5_0",   "Q5_1",  "Q2_K",
                              "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "Q4_K_M", "Q5_K_M"};

std::string kq_file(const std::string& type, const char* ext) {
    return shared_file("models/quant/kq-random." + type + "." + ext);
}

// A float as the record writes it (9 significant digits) is exactly one float.
float as_float(double v) { return static_cast<float>(v); }

// exp(mean NLL) of each token after the first under the logits at the position before it.
double implied_perplexity(const Json& logits, const std::vector<int32_t>& tokens) {
    double nll = 0;
    for (size_t i = 0; i + 1 < tokens.size(); i++) {
        const std::vector<double> l = logits.at(i).get<std::vector<double>>();
        double max = l[0], sum = 0;
        for (double x : l) max = std::max(max, x);
        for (double x : l) sum += std::exp(x - max);
        nll += std::log(sum) + max - l[tokens[i + 1]];
    }
    return std::exp(nll / static_cast<double>(tokens.size() - 1));
}

// llama.cpp's logits with f32 activations on the dequantised weights: for F32
// (which has no dequantised copy) the file's own.
const Json& f32_logits(const Json& record) {
    return record.contains("logits_dequant_f32") ? record.at("logits_dequant_f32") : record.at("logits");
}

}  // namespace

TEST_SUITE("quant") {

TEST_CASE("every type's CPU dequantisation equals llama.cpp's, bit for bit (first rows, every 997th value, sums)") {
    for (const std::string type : kTypes) {
        const Model m = load_model(kq_file(type, "gguf"));
        const Json record = parse_json(read_file(kq_file(type, "json")));
        std::map<std::string, const TensorView*> by_name;
        for (const TensorView* t : all_tensors(m)) by_name[t->name] = t;
        for (const Json& entry : record.at("tensors")) {
            const std::string name = entry.at("name").get<std::string>();
            REQUIRE_MESSAGE(by_name.count(name), type << ": " << name);
            const TensorView& t = *by_name.at(name);
            CHECK(std::string(tensor_type_name(t.type)) == entry.at("type").get<std::string>());
            std::vector<float> row(t.cols);
            uint64_t mismatches = 0;
            double sum = 0;
            for (uint64_t r = 0; r < t.rows; r++) {
                dequantize_row(t, r, row.data());
                for (float v : row) sum += v;
                if (r < entry.at("rows").size()) {
                    const std::vector<double> want = entry.at("rows").at(r).get<std::vector<double>>();
                    for (uint64_t c = 0; c < t.cols; c++) mismatches += row[c] != as_float(want[c]);
                }
            }
            const std::vector<double> index = entry.at("sample_index").get<std::vector<double>>(),
                                      value = entry.at("sample_value").get<std::vector<double>>();
            for (size_t i = 0; i < index.size(); i++) {
                const uint64_t flat = static_cast<uint64_t>(index[i]);
                dequantize_row(t, flat / t.cols, row.data());
                mismatches += row[flat % t.cols] != as_float(value[i]);
            }
            CHECK_MESSAGE(mismatches == 0,
                          type << " " << name << ": " << mismatches << " values differ from llama.cpp's");
            const double want_sum = entry.at("sum").get<double>();
            CHECK_MESSAGE(std::fabs(sum - want_sum) <= 1e-9 * std::max(1.0, std::fabs(want_sum)), type << " " << name);
        }
    }
}

TEST_CASE(
    "every type, CPU and GPU: logits at all 18 prompt positions within 1e-4 x max|logit| of llama.cpp's (f32 "
    "activations)") {
    for (const std::string type : kTypes) {
        const Model m = load_model(kq_file(type, "gguf"));
        const Json record = parse_json(read_file(kq_file(type, "json")));
        Reference cpu(m, 18);
        GpuSequence gpu(validated_context(), m, 18);
        const std::vector<int32_t> tokens = to_ids(record.at("token_ids"));
        const double cpu_error = worst_logit_error(cpu, tokens, f32_logits(record)),
                     gpu_error = worst_logit_error(gpu, tokens, f32_logits(record));
        CHECK_MESSAGE(cpu_error <= 1e-4, type << ": CPU " << cpu_error);
        CHECK_MESSAGE(gpu_error <= 1e-4, type << ": GPU " << gpu_error);
        MESSAGE(type << ": worst logit error CPU " << cpu_error << ", GPU " << gpu_error);
    }
    check_no_validation_messages();
}

TEST_CASE(
    "every type: wkv ppl on the prompt gives the perplexity llama.cpp's logits imply, within 1e-4 relative, CPU and "
    "GPU") {
    for (const std::string type : kTypes) {
        const Json record = parse_json(read_file(kq_file(type, "json")));
        const std::string prompt = (temp_dir() / (type + ".prompt.txt")).string();
        const std::string text = record.at("prompt").get<std::string>();
        write_file(prompt, std::vector<uint8_t>(text.begin(), text.end()));
        const std::vector<int32_t> tokens = to_ids(record.at("token_ids"));
        const double want = implied_perplexity(f32_logits(record), tokens);
        for (bool cpu : {true, false}) {
            const std::string json = (temp_dir() / (type + (cpu ? ".cpu" : ".gpu") + ".json")).string();
            // f32 keys and values, as llama.cpp's logits were made.
            std::vector<std::string> args = {"ppl",      "-m",   kq_file(type, "gguf"), "-f",  prompt,   "--ctx", "18",
                                             "--policy", "full", "--kv-type",           "f32", "--json", json};
            if (cpu) args.push_back("--cpu");
            const RunResult r = run_wkv(args);
            REQUIRE_MESSAGE(r.exit_code == 0, r.err);
            const Json result = parse_json(read_file(json)).at("results").at(0);
            CHECK(result.at("tokens").get<double>() == tokens.size() - 1);
            CHECK_MESSAGE(std::fabs(result.at("perplexity").get<double>() / want - 1) <= 1e-4,
                          type << (cpu ? " CPU " : " GPU ") << result.at("perplexity").get<double>() << " vs " << want);
        }
    }
}

TEST_CASE("q8_0 and q4_0 quantised here are llama.cpp's bytes: kq-random.F32's matrices against its Q8_0 and Q4_0") {
    const Model f32 = load_model(kq_file("F32", "gguf"));
    for (const auto& [type, quantize, block_bytes] :
         {std::tuple{"Q8_0", &quantize_q8_0, 34u}, std::tuple{"Q4_0", &quantize_q4_0, 18u}}) {
        CAPTURE(type);
        const Model quantised = load_model(kq_file(type, "gguf"));
        auto matrices = [](const Model& m) {
            std::vector<const TensorView*> all = {&m.token_embedding, &m.classifier};
            for (const LayerWeights& l : m.layers)
                for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) all.push_back(t);
            return all;
        };
        const std::vector<const TensorView*> from = matrices(f32), want = matrices(quantised);
        uint64_t blocks = 0, differing = 0;
        for (size_t i = 0; i < from.size(); i++) {
            CAPTURE(from[i]->name);
            REQUIRE(from[i]->type == TensorType::f32);
            REQUIRE(want[i]->elements() == from[i]->elements());
            const uint64_t n = from[i]->elements() / 32;
            std::vector<uint8_t> got(n * block_bytes);
            quantize(reinterpret_cast<const float*>(from[i]->data), n, got.data());
            for (uint64_t b = 0; b < n; b++)
                differing += std::memcmp(&got[b * block_bytes], want[i]->data + b * block_bytes, block_bytes) != 0;
            blocks += n;
        }
        CHECK(blocks == 2 * 512 * 256 / 32 + 2 * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 768 * 256) / 32);
        CHECK(differing == 0);
    }
}

TEST_CASE("a KV cache row stored as q8_0 or q4_0 holds llama.cpp's dequantised values: kq-random's rows cut to heads") {
    const Model f32 = load_model(kq_file("F32", "gguf"));
    for (const auto& [name, type] : {std::pair{"Q8_0", KvType::q8_0}, std::pair{"Q4_0", KvType::q4_0}}) {
        CAPTURE(name);
        const Model quantised = load_model(kq_file(name, "gguf"));
        const TensorView &from = f32.layers[0].wk, &want = quantised.layers[0].wk;
        REQUIRE(from.cols % 128 == 0);
        uint64_t rows = 0, differing = 0;
        std::vector<float> row(from.cols), expected(want.cols);
        for (uint64_t r = 0; r < from.rows; r++) {
            dequantize_row(from, r, row.data());
            dequantize_row(want, r, expected.data());
            for (uint32_t head_dim : {64u, 128u}) {  // a matrix row cut into heads, each stored as a cache row
                for (uint32_t at = 0; at < from.cols; at += head_dim) {
                    std::vector<float> head(row.begin() + at, row.begin() + at + head_dim);
                    round_kv_row(type, head.data(), head_dim);
                    differing += std::memcmp(head.data(), &expected[at], head_dim * 4) != 0;
                    rows++;
                }
            }
        }
        CHECK(rows == from.rows * (from.cols / 64 + from.cols / 128));
        CHECK(differing == 0);
    }
    // Bytes per row: llama.cpp's 34 (q8_0) and 18 (q4_0) a block when the blocks pair up; a head_dim
    // that is not a multiple of 32 is padded to whole blocks, an odd number of blocks to a whole word.
    CHECK(kv_row_bytes(KvType::q8_0, 64) == 2 * 34);
    CHECK(kv_row_bytes(KvType::q4_0, 128) == 4 * 18);
    CHECK(kv_row_bytes(KvType::q8_0, 48) == 2 * 34);
    CHECK(kv_row_bytes(KvType::q8_0, 96) == 3 * 34 + 2);
    CHECK(kv_row_bytes(KvType::q4_0, 8) == 18 + 2);
    CHECK(kv_row_bytes(KvType::f16, 48) == 96);
    // A 48-wide row keeps its 16 values past the first block as a block of its own, padded with zeros.
    std::vector<float> head(48);
    for (uint32_t d = 0; d < 48; d++) head[d] = static_cast<float>(d) - 20.0f;
    std::vector<float> first(head.begin(), head.begin() + 32), second(32, 0.0f);
    std::copy(head.begin() + 32, head.end(), second.begin());
    round_kv_row(KvType::q8_0, head.data(), 48);
    round_kv_row(KvType::q8_0, first.data(), 32);
    round_kv_row(KvType::q8_0, second.data(), 32);
    CHECK(std::equal(first.begin(), first.end(), head.begin()));
    CHECK(std::equal(head.begin() + 32, head.end(), second.begin()));
}

}  // TEST_SUITE("quant")

// llama.cpp's perplexity of the eval model's default mixes (K-quants with
// Q5_0/Q5_1/Q4_0/Q8_0/Q6_K fallbacks, as real files of such shapes are made),
// f32 keys and values, one window of 1024 tokens (quant/README.md).
TEST_SUITE("quant_ppl") {

TEST_CASE(
    "wkv-eval-8m Q4_K_M and Q3_K_M: perplexity within 0.1% of llama.cpp's on the first 1024 tokens, CPU and GPU") {
    const std::string doc = shared_file("corpora/pg19/news_from_nowhere_morris_1890.txt");
    // llama.cpp's with F16 K/V, as wkv caches by default (its F32 K/V figures: 204.1862 and 203.1752).
    const std::pair<const char*, double> files[] = {{"Q4_K_M", 204.1572}, {"Q3_K_M", 203.1557}};
    std::vector<std::vector<std::string>> runs;
    std::vector<std::string> labels, jsons;
    for (const auto& [type, ppl] : files) {
        for (bool cpu : {true, false}) {
            jsons.push_back(
                (temp_dir() / (std::string("eval8m.") + type + (cpu ? ".cpu" : ".gpu") + ".json")).string());
            runs.push_back({"ppl", "-m", shared_file(std::string("models/quant/wkv-eval-8m.") + type + ".gguf"), "-f",
                            doc, "--ctx", "1024", "--max-tokens", "1024", "--policy", "full", "--json", jsons.back()});
            if (cpu) runs.back().push_back("--cpu");
            labels.push_back(std::string(type) + (cpu ? " CPU" : " GPU"));
        }
    }
    // The four runs at once: the CPU reference uses one core, lavapipe both.
    const std::vector<RunResult> results = run_wkv_parallel(runs);
    for (size_t i = 0; i < results.size(); i++) {
        REQUIRE_MESSAGE(results[i].exit_code == 0, labels[i] << ": " << results[i].err);
        const Json r = parse_json(read_file(jsons[i])).at("results").at(0);
        const double want = files[i / 2].second;
        CHECK(r.at("tokens").get<double>() == 1023);
        CHECK_MESSAGE(std::fabs(r.at("perplexity").get<double>() / want - 1) <= 1e-3,
                      labels[i] << ": " << r.at("perplexity").get<double>() << " vs llama.cpp " << want);
        MESSAGE(labels[i] << ": " << r.at("perplexity").get<double>() << " (llama.cpp " << want << ")");
    }
}

}  // TEST_SUITE("quant_ppl")
