// Model loaders on the real files in ../shared/models, and on files these
// tests damage or craft: every bad file must give one wkv::Error that names
// the file, and nothing may crash (this suite also runs under ASan+UBSan).
#include <doctest/doctest.h>

#include <climits>
#include <cmath>
#include <cstring>

#include "error.hpp"
#include "gguf.hpp"
#include "gguf_split.hpp"
#include "gguf_writer.hpp"
#include "model.hpp"
#include "random_model.hpp"
#include "reference.hpp"
#include "support.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// The error message load_model gives for `bytes` written to a temp file, or "" when it loads.
std::string load_error(const std::vector<uint8_t>& bytes, const std::string& name = "bad.bin") {
    const std::string path = (temp_dir() / name).string();
    write_file(path, bytes);
    try {
        load_model(path);
    } catch (const Error& e) {
        const std::string msg = e.what();
        CHECK_MESSAGE(msg.rfind(path + ": ", 0) == 0, "error does not name the file: " << msg);
        CHECK_MESSAGE(msg.find('\n') == std::string::npos, "error is not one line: " << msg);
        return msg;
    }
    return "";
}

void put_i32(std::vector<uint8_t>& b, size_t offset, int32_t v) { std::memcpy(&b[offset], &v, 4); }
void put_u32(std::vector<uint8_t>& b, size_t offset, uint32_t v) { std::memcpy(&b[offset], &v, 4); }
void put_u64(std::vector<uint8_t>& b, size_t offset, uint64_t v) { std::memcpy(&b[offset], &v, 8); }

// Every truncation point in `offsets` (and a few near the ends) must fail cleanly.
void check_truncations(const std::vector<uint8_t>& good, uint64_t step) {
    std::vector<uint64_t> cuts = {1, 2, 3, 4, 7, 8, 16, 24, 27, 28, 29, 36, 40, 255, 256, 257};
    for (uint64_t c = step; c < good.size(); c += step) cuts.push_back(c);
    cuts.push_back(good.size() - 1);
    for (uint64_t cut : cuts) {
        if (cut >= good.size()) continue;
        const std::vector<uint8_t> truncated(good.begin(), good.begin() + static_cast<long>(cut));
        CHECK_MESSAGE(!load_error(truncated).empty(), "a file truncated to " << cut << " bytes loaded");
    }
}

double max_abs(const TensorView& t) {
    std::vector<float> row(t.cols);
    double m = 0;
    for (uint64_t r = 0; r < t.rows; r++) {
        dequantize_row(t, r, row.data());
        for (float x : row) m = std::max(m, static_cast<double>(std::fabs(x)));
    }
    return m;
}

// Largest |a - b| over two tensors of the same shape.
double max_difference(const TensorView& a, const TensorView& b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    std::vector<float> ra(a.cols), rb(b.cols);
    double m = 0;
    for (uint64_t r = 0; r < a.rows; r++) {
        dequantize_row(a, r, ra.data());
        dequantize_row(b, r, rb.data());
        for (uint64_t c = 0; c < a.cols; c++) m = std::max(m, static_cast<double>(std::fabs(ra[c] - rb[c])));
    }
    return m;
}

ModelConfig tiny_config() {
    ModelConfig c;
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = 40;
    c.context = 64;
    return c;
}

}  // namespace

TEST_SUITE("loaders") {

TEST_CASE("stories260K.bin: llama2.c v0 header, shared classifier") {
    const Model m = load_model(shared_file("models/stories260K.bin"));
    CHECK(m.format == ModelFormat::llama2c_v0);
    CHECK(m.config.dim == 64);
    CHECK(m.config.hidden_dim == 172);
    CHECK(m.config.n_layers == 5);
    CHECK(m.config.n_heads == 8);
    CHECK(m.config.n_kv_heads == 4);
    CHECK(m.config.vocab_size == 512);
    CHECK(m.config.context == 512);
    CHECK(m.classifier.data == m.token_embedding.data);
    CHECK(m.weight_bytes() == 260032ull * 4);  // the README's parameter count
    // A token reads every weight, the shared table as the classifier, and its own embedding row once more.
    CHECK(m.bytes_read_per_token() == 260032ull * 4 + 64 * 4);
}

TEST_CASE("stories260K_q80.bin: version 2, q8 groups of 32, within 0.4% of each tensor's max |w| of the fp32 file") {
    const Model q = load_model(shared_file("models/stories260K_q80.bin"));
    const Model f = load_model(shared_file("models/stories260K.bin"));
    CHECK(q.format == ModelFormat::llama2c_v2);
    CHECK(q.config.hidden_dim == 172);
    CHECK(q.layers[0].w2.type == TensorType::q8_grouped);
    CHECK(q.layers[0].w2.group_size == 32);
    const auto qt = all_tensors(q), ft = all_tensors(f);
    for (size_t i = 0; i < qt.size(); i++) {
        const double bound = qt[i]->type == TensorType::f32 ? 0.0 : 0.004 * max_abs(*ft[i]);
        CHECK_MESSAGE(max_difference(*qt[i], *ft[i]) <= bound, qt[i]->name);
    }
}

TEST_CASE("wkv-eval-8m: fp32 .bin with a separate classifier, and its GGUF copies within their formats' error") {
    const Model f = load_model(shared_file("models/wkv-eval-8m.bin"));
    CHECK(f.config.dim == 288);
    CHECK(f.config.hidden_dim == 768);
    CHECK(f.config.n_layers == 6);
    CHECK(f.config.n_kv_heads == 6);
    CHECK(f.config.vocab_size == 4096);
    CHECK(f.config.context == 1024);
    CHECK(f.classifier.data != f.token_embedding.data);
    // A token reads one row of its embedding table (4096 x 288 floats), not all of it.
    CHECK(f.bytes_read_per_token() == f.weight_bytes() - 4096ull * 288 * 4 + 288 * 4);
    // Relative to each tensor's largest weight: f16 ~ 2^-11; q8_0 within one step (1/127;
    // measured 6.3e-3); q4_0 within one step (1/8; measured 0.105 on blk.5.attn_k).
    const std::pair<const char*, double> copies[] = {{"models/wkv-eval-8m.f16.gguf", 1e-3},
                                                     {"models/wkv-eval-8m.q8_0.gguf", 1.0 / 127},
                                                     {"models/wkv-eval-8m.q4_0.gguf", 1.0 / 8}};
    for (const auto& [file, tolerance] : copies) {
        const Model g = load_model(shared_file(file));
        CHECK(g.format == ModelFormat::gguf);
        CHECK(g.config.dim == f.config.dim);
        CHECK(g.config.context == 1024);
        CHECK(g.config.rope_theta == 10000.0f);
        REQUIRE(g.vocabulary.has_value());
        CHECK(g.vocabulary->size() == 4096);
        const auto gt = all_tensors(g), ft = all_tensors(f);
        for (size_t i = 0; i < gt.size(); i++) {
            CHECK_MESSAGE(max_difference(*gt[i], *ft[i]) <= tolerance * max_abs(*ft[i]), file << " " << gt[i]->name);
        }
    }
    CHECK(load_model(shared_file("models/wkv-eval-8m.q4_0.gguf")).layers[0].wq.type == TensorType::q4_0);
    CHECK(load_model(shared_file("models/wkv-eval-8m.q4_0.gguf")).token_embedding.type == TensorType::q8_0);
}

TEST_CASE("llama-2-tiny-random.gguf: metadata as the README gives it") {
    const Model m = load_model(shared_file("models/llama-2-tiny-random.gguf"));
    CHECK(m.config.dim == 8);
    CHECK(m.config.hidden_dim == 32);
    CHECK(m.config.n_layers == 1);
    CHECK(m.config.n_heads == 2);
    CHECK(m.config.context == 4096);
    CHECK(m.config.vocab_size == 32000);
    CHECK(m.token_embedding.type == TensorType::f16);
    CHECK(m.final_norm.type == TensorType::f32);
    CHECK(m.classifier.data != m.token_embedding.data);
    CHECK(m.embedded_tokenizer_kind == "llama");
    REQUIRE(m.vocabulary.has_value());
    CHECK(m.vocabulary->pieces[15043] == " Hello");  // U+2581 became a plain space
    CHECK(m.vocabulary->types[3] == PieceType::byte);
    CHECK(m.vocabulary->bos_id == 1);
}

TEST_CASE("missing, empty and non-regular files") {
    CHECK_THROWS_WITH_AS(load_model("/nonexistent/model.bin"),
                         "/nonexistent/model.bin: cannot open: No such file or directory", Error);
    CHECK_THROWS_WITH_AS(load_model(temp_dir().string()), (temp_dir().string() + ": not a regular file").c_str(),
                         Error);
    CHECK(load_error({}).find("empty") != std::string::npos);
}

TEST_CASE("llama2.c v0: truncated anywhere, trailing bytes, hostile header values") {
    const std::vector<uint8_t> good = read_bytes(shared_file("models/stories260K.bin"));
    check_truncations(good, 10007);
    std::vector<uint8_t> longer = good;
    longer.push_back(0);
    CHECK(load_error(longer).find("unexpected bytes after the last tensor") != std::string::npos);

    const std::pair<size_t, int32_t> patches[] = {
        {0, 0},   {0, -64},        {0, 1 << 30}, {4, 0},        {8, 0},  {8, 100000},   {12, 3}, {12, 0},     {16, 3},
        {16, 16}, {20, INT32_MIN}, {20, 0},      {20, 1 << 24}, {24, 0}, {24, 1 << 30}, {0, 66}, {4, 1 << 17}};
    for (const auto& [offset, value] : patches) {
        std::vector<uint8_t> bad = good;
        put_i32(bad, offset, value);
        CHECK_MESSAGE(!load_error(bad).empty(), "header int at " << offset << " = " << value << " loaded");
    }
    std::vector<uint8_t> bad = good;
    put_i32(bad, 0, 1 << 30);
    CHECK(load_error(bad).find("dim = 1073741824 is out of range") != std::string::npos);
}

TEST_CASE("llama2.c v2: truncated anywhere, bad version, group size and flags") {
    const std::vector<uint8_t> good = read_bytes(shared_file("models/stories260K_q80.bin"));
    check_truncations(good, 3001);
    const std::pair<size_t, int32_t> patches[] = {{4, 1}, {4, 3}, {4, -1}, {8, 0}, {32, 0}, {28, -512}};
    for (const auto& [offset, value] : patches) {
        std::vector<uint8_t> bad = good;
        put_i32(bad, offset, value);
        CHECK_MESSAGE(!load_error(bad).empty(), "v2 header int at " << offset << " = " << value << " loaded");
    }
    for (int32_t group : {0, -32, 7, 1 << 30}) {
        std::vector<uint8_t> bad = good;
        std::memcpy(&bad[37], &group, 4);  // group_size follows the 1-byte flag, unaligned
        CHECK_MESSAGE(!load_error(bad).empty(), "group size " << group << " loaded");
    }
    std::vector<uint8_t> bad = good;
    bad[36] = 7;
    CHECK(load_error(bad).find("shared_classifier flag is 7") != std::string::npos);
    bad = good;
    put_i32(bad, 4, 1);
    CHECK(load_error(bad).find("unsupported llama2.c checkpoint version 1") != std::string::npos);
}

TEST_CASE("GGUF fixture: truncated anywhere in metadata or data, bad version, absurd counts") {
    const std::vector<uint8_t> good = read_bytes(shared_file("models/llama-2-tiny-random.gguf"));
    check_truncations(good, 4999);
    for (uint32_t version : {0u, 1u, 4u, 0xffffffffu}) {
        std::vector<uint8_t> bad = good;
        put_u32(bad, 4, version);
        CHECK(load_error(bad).find("unsupported GGUF version") != std::string::npos);
    }
    for (uint64_t count : {uint64_t{UINT64_MAX}, uint64_t{1} << 40, uint64_t{13}}) {
        std::vector<uint8_t> bad = good;
        put_u64(bad, 8, count);  // tensor count
        CHECK(!load_error(bad).empty());
        bad = good;
        put_u64(bad, 16, count);  // metadata count
        CHECK(!load_error(bad).empty());
    }
}

TEST_CASE("crafted GGUF: a seeded random model loads; each defect gives its own clear error") {
    RandomModelOptions o;
    o.config = tiny_config();
    for (uint32_t type : {kGgmlF32, kGgmlF16, kGgmlQ8_0, kGgmlQ4_0}) {
        o.weight_type = type;
        CHECK(load_error(random_llama_gguf(o), "random.gguf").empty());
    }

    // Builds a minimal valid llama GGUF (or, with `arch`, that architecture's metadata over
    // llama's tensors), with `defect` applied before the bytes are made.
    std::string arch = "llama";
    auto crafted = [&](auto defect) {
        const ModelConfig c = tiny_config();
        GgufWriter g;
        bool keep_arch = true;
        defect(g, keep_arch, /*before_tensors=*/true);
        if (keep_arch) g.str("general.architecture", arch);
        g.u32(arch + ".embedding_length", c.dim);
        g.u32(arch + ".feed_forward_length", c.hidden_dim);
        g.u32(arch + ".block_count", 1);
        g.u32(arch + ".attention.head_count", c.n_heads);
        g.u32(arch + ".context_length", c.context);
        auto f32 = [](uint64_t n) { return encode_ggml(std::vector<float>(n, 0.5f), kGgmlF32); };
        g.tensor("token_embd.weight", {c.dim, c.vocab_size}, kGgmlF32, f32(c.dim * c.vocab_size));
        g.tensor("output_norm.weight", {c.dim}, kGgmlF32, f32(c.dim));
        for (const char* n : {"attn_norm", "ffn_norm"})
            g.tensor(std::string("blk.0.") + n + ".weight", {c.dim}, kGgmlF32, f32(c.dim));
        for (const char* n : {"attn_q", "attn_k", "attn_v", "attn_output"})
            g.tensor(std::string("blk.0.") + n + ".weight", {c.dim, c.dim}, kGgmlF32, f32(c.dim * c.dim));
        for (const char* n : {"ffn_gate", "ffn_up"})
            g.tensor(std::string("blk.0.") + n + ".weight", {c.dim, c.hidden_dim}, kGgmlF32, f32(c.dim * c.hidden_dim));
        g.tensor("blk.0.ffn_down.weight", {c.hidden_dim, c.dim}, kGgmlF32, f32(c.dim * c.hidden_dim));
        defect(g, keep_arch, /*before_tensors=*/false);
        return g.bytes();
    };
    auto expect = [&](auto defect, const std::string& message) {
        const std::string error = load_error(crafted(defect), "crafted.gguf");
        CHECK_MESSAGE(error.find(message) != std::string::npos, "expected '" << message << "', got '" << error << "'");
    };

    CHECK(load_error(crafted([](GgufWriter&, bool&, bool) {}), "crafted.gguf").empty());  // undamaged
    // A tensor wkv would not read (a bias, Llama 3.1's rope_freqs) is refused, not ignored.
    for (const char* extra : {"blk.0.extra.weight", "blk.0.attn_q.bias", "blk.0.attn_q_norm.weight"}) {
        expect(
            [&](GgufWriter& g, bool&, bool before) {
                if (!before) g.tensor(extra, {64}, kGgmlF32, encode_ggml(std::vector<float>(64, 0.5f), kGgmlF32));
            },
            "tensor '" + std::string(extra) + "' is not part of the models wkv runs (it would be ignored)");
    }
    // What an architecture requires and a file leaves out.
    auto nothing = [](GgufWriter&, bool&, bool) {};
    arch = "qwen2";
    expect(nothing, "tensor 'blk.0.attn_q.bias' is missing");
    arch = "qwen3";
    expect(nothing, "tensor 'blk.0.attn_q_norm.weight' is missing");
    arch = "llama";
    // split.count and split.no out of range (model/gguf_split.hpp).
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u16("split.count", 0);
        },
        "split.count 0 is not in 1..65535");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u32("split.count", 100000);
        },
        "split.count 100000 is not in 1..65535");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) return;
            g.u16("split.count", 2);
            g.u16("split.no", 2);
        },
        "split.no 2 is not below split.count 2");
    // Scaling other than linear changes the math: refused.
    for (const char* scaling : {"yarn", "longrope"}) {
        expect(
            [&](GgufWriter& g, bool&, bool before) {
                if (before) g.str("llama.rope.scaling.type", scaling);
            },
            "llama.rope.scaling.type is '" + std::string(scaling) + "': only linear RoPE scaling is supported");
    }
    // Llama 3.1's RoPE frequency factors: one per pair of a head's dimensions, positive.
    expect(
        [&](GgufWriter& g, bool&, bool before) {
            if (!before)
                g.tensor("rope_freqs.weight", {64}, kGgmlF32, encode_ggml(std::vector<float>(64, 1.0f), kGgmlF32));
        },
        "tensor 'rope_freqs.weight' has 64 values; rotated dimensions / 2 = 8 expected");
    expect(
        [&](GgufWriter& g, bool&, bool before) {
            if (!before)
                g.tensor("rope_freqs.weight", {8}, kGgmlF32, encode_ggml(std::vector<float>(8, -1.0f), kGgmlF32));
        },
        "tensor 'rope_freqs.weight' has a factor that is not a positive number");
    GgufWriter no_tensors;
    no_tensors.str("general.architecture", "llama");
    for (const char* key : {"llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
                            "llama.attention.head_count", "llama.context_length"}) {
        no_tensors.u32(key, 64);
    }
    CHECK(load_error(no_tensors.bytes()).find("tensor 'token_embd.weight' is missing") != std::string::npos);
    GgufWriter no_metadata;
    no_metadata.str("general.architecture", "llama");
    CHECK(load_error(no_metadata.bytes()).find("metadata 'llama.embedding_length' is missing") != std::string::npos);
    expect(
        [](GgufWriter& g, bool& keep, bool before) {
            if (before) {
                keep = false;
                g.str("general.architecture", "gpt2");
            }
        },
        "general.architecture is 'gpt2'");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {64, 40}, 16, std::vector<uint8_t>(64 * 40));
        },
        "tensor 'output.weight' has unsupported tensor type iq2_xxs (16); supported: f32, f16, q4_0, q4_1, q5_0, q5_1, "
        "q8_0, "
        "q2_K, q3_K, q4_K, q5_K, q6_K, iq4_nl, iq4_xs, bf16");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {64, 40}, 12, std::vector<uint8_t>(64 * 40));
        },
        "q4_K needs a row length that is a multiple of 256, got 64");
    // Strings from the file reach an error escaped: one line, no terminal escapes, at most 80 characters.
    expect(
        [](GgufWriter& g, bool& keep, bool before) {
            if (before) {
                keep = false;
                g.str("general.architecture", "gp\nt\x1b[31m");
            }
        },
        "general.architecture is 'gp\\x0at\\x1b[31m'");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) {
                g.u32("a\nb", 1);
                g.u32("a\nb", 2);
            }
        },
        "metadata key 'a\\x0ab' appears twice");
    expect(
        [](GgufWriter& g, bool& keep, bool before) {
            if (before) {
                keep = false;
                g.str("general.architecture", std::string(200, 'x'));
            }
        },
        "general.architecture is '" + std::string(80, 'x') + "...'");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) {
                g.tensor("output.weight", {64, 40}, 0, std::vector<uint8_t>(64 * 40 * 4));
                g.override_last_offset(1ull << 40);
            }
        },
        "tensor 'output.weight' data at offset 1099511627776");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) {
                g.tensor("output.weight", {64, 40}, 0, std::vector<uint8_t>(64 * 40 * 4));
                g.override_last_offset(UINT64_MAX - 31);
            }
        },
        "lies past the end of the file");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) {
                g.tensor("output.weight", {64, 40}, 0, std::vector<uint8_t>(64 * 40 * 4));
                g.override_last_offset(4);
            }
        },
        "is not aligned to 32");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {1ull << 40, 1ull << 40}, 0, {});
        },
        "overflows");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {64, 41}, 0, std::vector<uint8_t>(64 * 41 * 4));
        },
        "tensor 'output.weight' has shape [41][64], expected [40][64]");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {33, 40}, 8, std::vector<uint8_t>(40 * 34));
        },
        "needs a row length that is a multiple of 32");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {64, 40, 1, 1, 1}, 0, {});
        },
        "has 5 dimensions");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("output.weight", {64, 0}, 0, {});
        },
        "has a zero dimension");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) g.tensor("token_embd.weight", {64, 40}, 0, {});
        },
        "tensor 'token_embd.weight' appears twice");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u32("llama.block_count", 2);
        },
        "metadata key 'llama.block_count' appears twice");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u32("llama.attention.head_count_kv", 3);
        },
        "n_heads 4 is not a multiple of n_kv_heads 3");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u32("llama.rope.dimension_count", 7);
        },
        "llama.rope.dimension_count 7 is not an even number of dimensions up to the head size 16");  // 8 would do
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.u32("general.alignment", 3);
        },
        "general.alignment 3 is not a power of two");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.str("llama.attention.head_count_kv", "2");
        },
        "metadata 'llama.attention.head_count_kv' is not an unsigned 32-bit integer");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (before) g.f32("llama.rope.freq_base", NAN);
        },
        "rope theta");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) return;
            g.str("tokenizer.ggml.model", "llama");
            g.str_array("tokenizer.ggml.tokens", {"<unk>", "<s>"});
        },
        "tokenizer.ggml.tokens has 2 entries but the embedding has 40 rows");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) return;
            // An array of strings claiming 2^60 elements.
            std::vector<uint8_t> raw = {4, 0, 0, 0, 0, 0, 0, 0, 'h', 'u', 'g', 'e', 9, 0, 0, 0, 8, 0, 0, 0};
            const uint64_t count = 1ull << 60;
            raw.insert(raw.end(), reinterpret_cast<const uint8_t*>(&count),
                       reinterpret_cast<const uint8_t*>(&count) + 8);
            g.raw_metadata(raw, 1);
        },
        "claims 1152921504606846976 array elements");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) return;
            std::vector<uint8_t> raw = {1, 0, 0, 0, 0, 0, 0, 0, 'x', 99, 0, 0, 0};  // value type 99
            g.raw_metadata(raw, 1);
        },
        "metadata 'x' has unknown value type 99");
    expect(
        [](GgufWriter& g, bool&, bool before) {
            if (!before) return;
            // array of arrays of arrays: nested deeper than any real file.
            std::vector<uint8_t> raw = {1, 0, 0, 0, 0, 0, 0, 0, 'n', 9, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                        9, 0, 0, 0, 1, 0, 0, 0, 0,   0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
            g.raw_metadata(raw, 1);
        },
        "nests arrays too deeply");
}

TEST_CASE("a split GGUF (llama.cpp's gguf-split) loads from its first part, the same model as the whole file") {
    RandomModelOptions o;
    o.config = tiny_config();
    o.weight_type = kGgmlQ8_0;
    const std::filesystem::path dir = temp_dir() / "split";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string whole = (dir / "whole.gguf").string();
    write_file(whole, random_llama_gguf(o));
    const std::vector<std::vector<uint8_t>> parts = GgufWriter::split(MappedFile(whole), 3);
    REQUIRE(parts.size() == 3);
    const std::string prefix = (dir / "model").string();
    auto part_path = [&](uint32_t i) { return split_part_path(prefix, i, 3); };
    auto write_parts = [&] {
        for (uint32_t i = 0; i < 3; i++) write_file(part_path(i + 1), parts[i]);
    };
    write_parts();
    CHECK(part_path(2) == prefix + "-00002-of-00003.gguf");

    const Model a = load_model(whole), b = load_model(part_path(1));
    CHECK(b.parts.size() == 2);
    CHECK(a.weight_bytes() == b.weight_bytes());
    Reference ra(a, 16), rb(b, 16);
    for (uint32_t pos = 0; pos < 6; pos++) {
        const int32_t token = static_cast<int32_t>(pos * 7 % o.config.vocab_size);
        const std::vector<float> la = ra.forward(token, pos);
        CHECK(la == rb.forward(token, pos));  // the same bytes: the same logits, exactly
    }

    // Each way a part can be wrong: one line naming the file.
    auto expect = [&](const std::string& path, const std::string& message) {
        std::string error;
        try {
            load_model(path);
        } catch (const Error& e) {
            error = e.what();
        }
        CHECK_MESSAGE(error.find(message) != std::string::npos, "expected '" << message << "', got '" << error << "'");
        CHECK(error.find('\n') == std::string::npos);
    };
    expect(part_path(2),
           part_path(2) + ": is part 2 of 3 of a split model; give its first part (...-00001-of-00003.gguf)");
    const std::string renamed = (dir / "renamed.gguf").string();
    write_file(renamed, parts[0]);
    expect(renamed, renamed + ": split.count is 3, but the name does not end in -00001-of-00003.gguf");
    std::filesystem::remove(part_path(3));
    expect(part_path(1), part_path(3) + ": cannot open");
    // Part 2 of a split in two where part 3 of 3 should be.
    const std::vector<std::vector<uint8_t>> halves = GgufWriter::split(MappedFile(whole), 2);
    write_file(part_path(3), halves[1]);
    expect(part_path(1), part_path(3) + ": is part 2 of 2, not part 3 of 3 of " + part_path(1));
    // A part that repeats a tensor, and one that leaves tensors out.
    auto part = [](uint16_t no, const std::vector<std::string>& names) {
        GgufWriter w;
        w.u16("split.no", no);
        w.u16("split.count", 3);
        for (const std::string& name : names)
            w.tensor(name, {4}, kGgmlF32, encode_ggml(std::vector<float>(4, 1.0f), kGgmlF32));
        return w.bytes();
    };
    const std::string repeated = parse_gguf(MappedFile(part_path(1))).tensors[0].name;
    write_file(part_path(3), part(2, {repeated}));
    expect(part_path(1), part_path(3) + ": tensor '" + repeated + "' is in an earlier part too");
    write_file(part_path(3), part(2, {}));
    expect(part_path(1), part_path(1) + ": split.tensors.count is " +
                             std::to_string(parse_gguf(MappedFile(whole)).tensors.size()) + ", but the 3 parts hold ");
    // Truncated anywhere, a part fails as a whole file does.
    write_parts();
    for (uint64_t cut : {uint64_t{8}, uint64_t{100}, parts[2].size() / 2}) {
        write_file(part_path(3), std::vector<uint8_t>(parts[2].begin(), parts[2].begin() + static_cast<long>(cut)));
        expect(part_path(1), part_path(3) + ": truncated");
    }
    std::filesystem::remove_all(dir);
}

}  // TEST_SUITE("loaders")
