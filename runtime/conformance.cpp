#include "conformance.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine_factory.hpp"
#include "error.hpp"
#include "kernels.hpp"
#include "policy.hpp"
#include "random_model.hpp"
#include "reference.hpp"
#include "sampler.hpp"

namespace wkv {

namespace {

// Tolerances. fp32 work on both sides (the CPU accumulates in double), so the
// GPU's error is its own float rounding: a few ulp per accumulated term.
constexpr double kDotTolerance = 1e-5;      // |gpu - cpu| / sum|w x|: relative to the dot product's scale
constexpr double kElementTolerance = 1e-5;  // |gpu - cpu| / (|cpu| + 1e-6): rmsnorm, swiglu
constexpr double kProbTolerance = 1e-5;     // absolute, on attention probabilities (each in [0, 1])
constexpr double kNllTolerance = 1e-4;      // absolute nats over vocabularies up to 32000
constexpr double kLogitTolerance = 1e-4;    // |gpu - cpu| / max(1, max |cpu logit|) over a whole model

class Random {
public:
    explicit Random(uint64_t seed) : s_(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
    float uniform() {  // [-1, 1)
        s_ ^= s_ >> 12;
        s_ ^= s_ << 25;
        s_ ^= s_ >> 27;
        return static_cast<float>((s_ * 0x2545F4914F6CDD1Dull) >> 40) / 8388608.0f - 1.0f;
    }
    std::vector<float> vector(size_t n, float scale = 1.0f) {
        std::vector<float> v(n);
        for (float& x : v) x = uniform() * scale;
        return v;
    }

private:
    uint64_t s_;
};

Buffer device_vector(Context& ctx, const std::vector<float>& v) {
    Buffer b(ctx, v.size() * 4, Memory::device_local);
    b.upload(v.data(), v.size() * 4);
    return b;
}

std::vector<float> read_floats(const Buffer& b, size_t n) {
    std::vector<float> v(n);
    b.download(v.data(), n * 4);
    return v;
}

// A model from GGUF bytes, through a temporary file (models are memory-mapped files).
Model model_from_bytes(const std::vector<uint8_t>& bytes) {
    const std::filesystem::path path =
        std::filesystem::temp_directory_path() / ("wkv-conformance-" + std::to_string(::getpid()) + ".gguf");
    {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        if (!out) throw Error(path.string() + ": cannot write a temporary model");
    }
    Model m = load_model(path.string());
    std::filesystem::remove(path);  // the mapping stays valid
    return m;
}

std::string shape(const char* a, uint64_t x, const char* b = nullptr, uint64_t y = 0) {
    std::string s = std::string(a) + "=" + std::to_string(x);
    if (b) s += std::string(" ") + b + "=" + std::to_string(y);
    return s;
}

void check_matvec(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    // Rows of whole blocks: every shape for 32-value blocks, those of 256 multiples for the K-quants.
    const std::pair<uint32_t, uint32_t> shapes[] = {{1, 32},   {7, 96}, {67, 288}, {300, 1024},
                                                    {33, 100}, {5, 3},  {3, 256},  {41, 768}};
    Random rng(11);
    for (const WeightType& wt : weight_types()) {
        const TensorType type = wt.type;
        for (const auto& [rows, cols] : shapes) {
            if (cols % wt.block_values) continue;  // rows hold whole blocks
            const std::vector<uint8_t> encoded = random_weights(type, uint64_t{rows} * cols, rows * 131 + cols);
            const TensorView w{"w", type, rows, cols, encoded.data(), nullptr, 0};
            const std::vector<float> x = rng.vector(cols);
            const std::vector<float> start = rng.vector(rows);

            for (bool accumulate : {false, true}) {
                // The residual add is scaled as Granite's is (0.22); a product alone is not.
                const float times = accumulate ? 0.22f : 1.0f;
                std::vector<float> expected(rows), row_scratch, row(cols);
                matvec(expected.data(), w, x.data(), row_scratch);
                std::vector<double> scale(rows, 0.0);
                for (uint32_t r = 0; r < rows; r++) {
                    dequantize_row(w, r, row.data());
                    for (uint32_t c = 0; c < cols; c++) scale[r] += std::fabs(static_cast<double>(row[c]) * x[c]);
                    expected[r] *= times;
                    if (accumulate) expected[r] += start[r];
                }
                // Force several chunks for the larger shapes, as a small maxStorageBufferRange would.
                const GpuTensor gw = upload_tensor(ctx, w, rows > 50 ? device_bytes(type, 37, cols) : 0);
                const Buffer gx = device_vector(ctx, x);
                const Buffer gy = device_vector(ctx, start);
                rec.begin();
                k.matvec(rec, gw, gx, gy, accumulate, times);
                rec.submit_and_wait();
                const std::vector<float> got = read_floats(gy, rows);
                double worst = 0;
                for (uint32_t r = 0; r < rows; r++)
                    worst = std::max(worst, std::fabs(got[r] - expected[r]) / (scale[r] + 1e-6));
                out.push_back({std::string("matvec_") + tensor_type_name(type),
                               shape("rows", rows, "cols", cols) + (accumulate ? " += 0.22 x" : "") +
                                   (gw.chunks.size() > 1 ? " chunks=" + std::to_string(gw.chunks.size()) : ""),
                               worst, kDotTolerance, "|err| / sum|w x|"});
            }
        }
    }
}

// A batch of vectors (perplexity evaluation) takes other pipelines (one per
// batch size, several rows per subgroup): each vector's result must equal the
// same vector alone bit for bit, with packed and 256-byte aligned strides.
// (An f32 stride that is not a whole number of vec4s would take the scalar
// path, which sums in another order than a lone vector's vec4 path.)
void check_matvec_batched(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    const std::pair<uint32_t, uint32_t> shapes[] = {{67, 288}, {33, 96}, {5, 3}, {21, 512}};
    Random rng(13);
    for (const WeightType& wt : weight_types()) {
        const TensorType type = wt.type;
        for (const auto& [rows, cols] : shapes) {
            if (cols % wt.block_values) continue;
            const std::vector<uint8_t> encoded = random_weights(type, uint64_t{rows} * cols, rows * 131 + cols);
            const TensorView w{"w", type, rows, cols, encoded.data(), nullptr, 0};
            const GpuTensor gw = upload_tensor(ctx, w, 0);
            for (uint32_t batch : {2u, 7u, 17u}) {
                for (bool aligned : {true, false}) {
                    // Past 16 vectors a second dispatch binds from vector 16 on, which needs 256-byte aligned strides.
                    if (batch > Kernels::kMaxBatch && !aligned) continue;
                    const uint32_t x_stride = aligned ? (cols + 63) / 64 * 64 : cols + 4;
                    const uint32_t out_stride = aligned ? (rows + 63) / 64 * 64 : rows + 3;
                    const std::vector<float> xs = rng.vector(size_t{batch} * x_stride),
                                             start = rng.vector(size_t{batch} * out_stride);
                    const Buffer gx = device_vector(ctx, xs), gy = device_vector(ctx, start);
                    rec.begin();
                    k.matvec(rec, gw, gx, x_stride, gy, out_stride, batch, true);
                    rec.submit_and_wait();
                    const std::vector<float> got = read_floats(gy, start.size());
                    double worst = 0;
                    for (uint32_t b = 0; b < batch; b++) {
                        const Buffer x1 = device_vector(
                            ctx, std::vector<float>(xs.begin() + b * x_stride, xs.begin() + b * x_stride + cols));
                        const Buffer y1 = device_vector(ctx, std::vector<float>(start.begin() + b * out_stride,
                                                                                start.begin() + b * out_stride + rows));
                        rec.begin();
                        k.matvec(rec, gw, x1, y1, true);
                        rec.submit_and_wait();
                        const std::vector<float> alone = read_floats(y1, rows);
                        for (uint32_t r = 0; r < rows; r++)
                            worst = std::max(worst, std::fabs(static_cast<double>(got[b * out_stride + r]) - alone[r]));
                    }
                    out.push_back({std::string("matvec_") + tensor_type_name(type),
                                   shape("rows", rows, "cols", cols) + " batch=" + std::to_string(batch) +
                                       " x_stride=" + std::to_string(x_stride) + " +=",
                                   worst, 0.0, "|batched - alone|"});
                }
            }
        }
    }
}

void check_embedding(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    for (const WeightType& wt : weight_types()) {
        const TensorType type = wt.type;
        const uint32_t rows = 50, cols = wt.block_values > 32 ? 512 : 96;
        const std::vector<uint8_t> encoded = random_weights(type, uint64_t{rows} * cols, 12);
        const TensorView table{"table", type, rows, cols, encoded.data(), nullptr, 0};
        const GpuTensor g = upload_tensor(ctx, table, device_bytes(type, 16, cols));  // 4 chunks
        Buffer row_out(ctx, cols * 4, Memory::device_local);
        double worst = 0;
        for (uint32_t token : {0u, 17u, 49u}) {
            const float times = token == 17 ? 12.0f : 1.0f;  // a scaled embedding (Granite's 12) too
            rec.begin();
            k.embedding(rec, g, token, row_out, times);
            rec.submit_and_wait();
            std::vector<float> expected(cols);
            dequantize_row(table, token, expected.data());
            for (float& v : expected) v *= times;
            const std::vector<float> got = read_floats(row_out, cols);
            for (uint32_t c = 0; c < cols; c++)
                worst = std::max(worst, static_cast<double>(std::fabs(got[c] - expected[c])));
        }
        // The same products (scale x quantised value, then x times) in float on both sides: exact.
        out.push_back({std::string("embedding_") + tensor_type_name(type),
                       shape("rows", rows, "cols", cols) + " chunks=4", worst, 0.0, "|err|"});
    }
}

void check_elementwise(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    Random rng(13);
    for (uint32_t n : {1u, 7u, 64u, 288u, 4096u}) {
        const std::vector<float> x = rng.vector(n, 3.0f), w = rng.vector(n);
        std::vector<float> expected(n);
        rmsnorm(expected.data(), x.data(), w.data(), n, 1e-5f);
        const Buffer gx = device_vector(ctx, x), gw = device_vector(ctx, w);
        Buffer gy(ctx, n * 4, Memory::device_local);
        rec.begin();
        k.rmsnorm(rec, gx, gw, gy, n, 1e-5f);
        rec.submit_and_wait();
        const std::vector<float> got = read_floats(gy, n);
        double worst = 0;
        for (uint32_t i = 0; i < n; i++)
            worst = std::max(worst, std::fabs(got[i] - expected[i]) / (std::fabs(expected[i]) + 1e-6));
        out.push_back({"rmsnorm", shape("n", n), worst, kElementTolerance, "|err| / |cpu|"});
    }
    for (uint32_t n : {288u, 1152u}) {
        // Gemma's post-norm: three rows' normed block outputs added to the residual stream, x 0.7.
        const uint32_t rows = 3, stride = n + 9;
        const std::vector<float> x = rng.vector(rows * stride, 3.0f), w = rng.vector(n);
        std::vector<float> residual = rng.vector(rows * stride, 2.0f), normed(n), scale(rows * stride, 0.0f);
        const Buffer gx = device_vector(ctx, x), gw = device_vector(ctx, w);
        Buffer gy = device_vector(ctx, residual);
        rec.begin();
        k.rmsnorm(rec, gx, gw, gy, n, 1e-6f, rows, stride, 0.7f);
        rec.submit_and_wait();
        for (uint32_t r = 0; r < rows; r++) {
            rmsnorm(normed.data(), &x[r * stride], w.data(), n, 1e-6f);
            for (uint32_t i = 0; i < n; i++) {
                // A sum's error is judged against its terms: the two may cancel.
                scale[r * stride + i] = std::fabs(residual[r * stride + i]) + std::fabs(0.7f * normed[i]);
                residual[r * stride + i] += 0.7f * normed[i];
            }
        }
        const std::vector<float> got = read_floats(gy, rows * stride);
        double worst = 0;
        for (size_t i = 0; i < got.size(); i++)
            worst = std::max(worst, std::fabs(got[i] - residual[i]) / (scale[i] + 1e-6));
        out.push_back({"rmsnorm", "residual add: " + shape("n", n) + " x3 rows", worst, kElementTolerance,
                       "|err| / (|residual| + |added|); the padding untouched"});
    }
    {
        // Qwen3's head norms: the K heads of two rows [q | k | spare] normed in place, the rest untouched.
        const uint32_t hd = 64, q = 4 * hd, kv = 2 * hd, stride = q + kv + 5, rows = 2;
        std::vector<float> data = rng.vector(rows * stride, 3.0f);
        const std::vector<float> w = rng.vector(hd);
        Buffer g = device_vector(ctx, data);
        const Buffer gw = device_vector(ctx, w);
        rec.begin();
        k.head_rmsnorm(rec, g, gw, hd, 1e-6f, kv / hd, rows, stride, q);
        rec.submit_and_wait();
        for (uint32_t r = 0; r < rows; r++) {
            for (uint32_t h = 0; h < kv / hd; h++) {
                float* head = &data[r * stride + q + h * hd];
                rmsnorm(head, head, w.data(), hd, 1e-6f);
            }
        }
        const std::vector<float> got = read_floats(g, rows * stride);
        double worst = 0;
        for (size_t i = 0; i < got.size(); i++)
            worst = std::max(worst, std::fabs(got[i] - data[i]) / (std::fabs(data[i]) + 1e-6));
        out.push_back(
            {"rmsnorm", "heads: " + shape("head_dim", hd, "rows", rows), worst, kElementTolerance, "|err| / |cpu|"});
    }
    {
        // Qwen2's biases, added to three padded rows of stacked q, k and v.
        const uint32_t n = 896 + 2 * 128, stride = n + 7, rows = 3;
        std::vector<float> data = rng.vector(rows * stride, 2.0f);
        const std::vector<float> bias = rng.vector(n);
        Buffer g = device_vector(ctx, data);
        const Buffer gb = device_vector(ctx, bias);
        rec.begin();
        k.bias_add(rec, g, gb, n, rows, stride);
        rec.submit_and_wait();
        for (uint32_t r = 0; r < rows; r++) {
            for (uint32_t i = 0; i < n; i++) data[r * stride + i] += bias[i];
        }
        const std::vector<float> got = read_floats(g, rows * stride);
        double worst = 0;
        for (size_t i = 0; i < got.size(); i++)
            worst = std::max(worst, static_cast<double>(std::fabs(got[i] - data[i])));
        out.push_back({"bias_add", shape("n", n, "rows", rows), worst, 0.0, "|err|"});  // one float addition: exact
    }
    for (Activation activation : {Activation::silu, Activation::gelu_tanh, Activation::gelu_tanh_f16}) {
        // Through f16, the device's f32 GELU and the CPU's double one may round to neighbouring f16
        // values: that case is held to one f16 step of the gate (2^-10 of it, 2^-24 when subnormal).
        const bool f16 = activation == Activation::gelu_tanh_f16;
        for (uint32_t n : {1u, 100u, 11008u}) {
            // Three vectors of [gate | up | 3 spare floats], as the stacked projection lays them out;
            // gates to +-12, past the f16 table's ends at +-10.
            const uint32_t rows = 3, stride = 2 * n + 3;
            const std::vector<float> data = rng.vector(rows * stride, f16 ? 12.0f : 4.0f);
            Buffer g = device_vector(ctx, data);
            rec.begin();
            k.swiglu(rec, g, n, stride, rows, activation);
            rec.submit_and_wait();
            const std::vector<float> got = read_floats(g, rows * stride);
            double worst = 0;
            for (uint32_t row = 0; row < rows; row++) {
                for (uint32_t i = 0; i < stride; i++) {
                    const size_t at = size_t{row} * stride + i;
                    if (i >= n) {
                        worst = std::max(worst, std::fabs(got[at] - data[at]) / (std::fabs(data[at]) + 1e-6));
                        continue;
                    }
                    const double act = gate(activation, data[at]), expected = act * data[at + n];
                    const double unit = f16 ? std::fabs(data[at + n]) * (std::fabs(act) * 0x1p-10 + 0x1p-24) +
                                                  std::fabs(expected) * kElementTolerance
                                            : std::fabs(expected) + 1e-6;
                    worst = std::max(worst, std::fabs(got[at] - expected) / unit);
                }
            }
            const char* name = activation == Activation::silu ? "silu: " : f16 ? "gelu through f16: " : "gelu: ";
            out.push_back({"swiglu", name + shape("n", n) + " x3 rows", worst, f16 ? 1.0 : kElementTolerance,
                           f16 ? "|err| / (one f16 step of the gate x |up|, + f32 rounding); up and spare untouched"
                               : "|err| / |cpu|; up and spare untouched"});
        }
    }
    {
        // Gemma's logit soft-capping at 30, in place over three padded rows, saturating ones included.
        const uint32_t n = 32000, stride = n + 64, rows = 3;
        const std::vector<float> data = rng.vector(rows * stride, 120.0f);
        Buffer g = device_vector(ctx, data);
        rec.begin();
        k.softcap(rec, g, n, stride, rows, 30.0f);
        rec.submit_and_wait();
        const std::vector<float> got = read_floats(g, rows * stride);
        double worst = 0;
        for (size_t at = 0; at < got.size(); at++) {
            const double expected = at % stride < n ? 30.0 * std::tanh(data[at] / 30.0) : data[at];
            worst = std::max(worst, std::fabs(got[at] - expected) / 30.0);
        }
        // Relative to the cap, as logits are judged against their largest: near 0 the shader's
        // tanh (free of overflow) cancels, with an absolute error of a few ulps of 1.
        out.push_back({"softcap", shape("n", n) + " x3 rows, cap 30", worst, kElementTolerance,
                       "|err| / cap; the padding untouched"});
    }
}

void check_nll(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    Random rng(14);
    for (uint32_t n : {1u, 512u, 32000u}) {
        const std::vector<float> logits = rng.vector(n, 12.0f);
        const Buffer gl = device_vector(ctx, logits);
        Buffer result(ctx, 16, Memory::device_local);
        double worst = 0;
        for (uint32_t target : {0u, n / 2, n - 1}) {
            rec.begin();
            k.nll(rec, gl, result, n, target, 2);
            rec.submit_and_wait();
            const float max = *std::max_element(logits.begin(), logits.end());
            double sum = 0;
            for (float l : logits) sum += std::exp(static_cast<double>(l) - max);
            const double expected = std::log(sum) + max - logits[target];
            worst = std::max(worst, std::fabs(read_floats(result, 3)[2] - expected));
        }
        out.push_back({"nll", shape("vocab", n), worst, kNllTolerance, "|err| nats"});
    }
}

// Greedy picks on the device against argmax() on the host: equal maxima (the
// first wins), -inf, a maximum in the last position, and a NaN or +inf logit
// (no token: -1); bit-exact, it is a choice.
void check_argmax(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    Random rng(15);
    for (uint32_t n : {1u, 7u, 512u, 32000u}) {
        const uint32_t rows = 6, stride = n + 3;
        std::vector<float> logits(size_t{rows} * stride, 1e30f);  // the gaps between rows must not count
        std::vector<std::vector<float>> row(rows);
        for (uint32_t b = 0; b < rows; b++) {
            row[b] = rng.vector(n, 8.0f);
            if (b == 1) std::fill(row[b].begin(), row[b].end(), -INFINITY);
            if (b == 2 && n > 2) row[b][n / 3] = row[b][n - 1] = 50.0f;  // a tie: the first
            if (b == 3) row[b][n - 1] = 60.0f;
            if (b == 4) row[b][n / 2] = NAN;
            if (b == 5) row[b][n - 1] = INFINITY;
            std::copy(row[b].begin(), row[b].end(), logits.begin() + b * stride);
        }
        const Buffer gl = device_vector(ctx, logits);
        Buffer tokens(ctx, 4 * rows, Memory::device_local);
        rec.begin();
        k.argmax(rec, gl, n, stride, rows, tokens);
        rec.submit_and_wait();
        std::vector<uint32_t> got(rows);
        tokens.download(got.data(), 4 * rows);
        double wrong = 0;
        for (uint32_t b = 0; b < rows; b++) wrong += got[b] != static_cast<uint32_t>(argmax(row[b]));
        out.push_back(
            {"argmax", shape("vocab", n) + " x6 rows", wrong, 0.0, "rows picking another token than argmax()"});
    }
}

// kv_append then attention, step by step, against append_entry + attend on a
// CPU KvCache, with f32 and f16 storage. The stored values must be the CPU's
// bit for bit: the same floats, or the same nearest-even f16 roundings.
void check_attention(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    struct Case {
        uint32_t n_heads, n_kv_heads, head_dim, steps;
    };
    const Case cases[] = {{1, 1, 8, 5}, {8, 4, 8, 70}, {6, 6, 48, 40}, {4, 1, 128, 130}, {2, 2, 256, 20}};
    Random rng(15);
    for (const Case& cs : cases) {
        // Keys are rotated before they are stored in original mode, where the GPU rotates in
        // float and the CPU in double: that mode quantises keys only to f16 here (a flip to a
        // neighbouring q8_0 code is a step of max|k| / 127, far above any tolerance).
        for (auto [mode, type] : {std::pair{PositionMode::cache_index, KvTypes(KvType::f32)},
                                  std::pair{PositionMode::original, KvTypes(KvType::f32)},
                                  std::pair{PositionMode::cache_index, KvTypes(KvType::f16)},
                                  std::pair{PositionMode::original, KvTypes(KvType::f16)},
                                  std::pair{PositionMode::cache_index, KvTypes(KvType::q8_0)},
                                  std::pair{PositionMode::cache_index, KvTypes(KvType::q4_0)},
                                  std::pair{PositionMode::cache_index, KvTypes(KvType::q8_0, KvType::f16)},
                                  std::pair{PositionMode::original, KvTypes(KvType::f32, KvType::q4_0)}}) {
            ModelConfig c;
            c.n_layers = 1;
            c.n_heads = cs.n_heads;
            c.n_kv_heads = cs.n_kv_heads;
            c.dim = cs.n_heads * cs.head_dim;
            const uint32_t capacity = cs.steps + 3;
            // q.k's scale: 1/sqrt(head_dim), or a model's own (Granite's 1/8) for head size 48.
            const double qk_scale = cs.head_dim == 48 ? 0.125 : 1.0 / std::sqrt(static_cast<double>(cs.head_dim));
            KvCache cpu(c, capacity, type);
            KvCacheRing gpu(ctx, c, capacity, type);
            const std::vector<float> table = rope_table(capacity, cs.head_dim, {10000.0f});
            const Buffer rope = device_vector(ctx, table);
            Buffer q(ctx, c.dim * 4, Memory::device_local), kn(ctx, c.kv_dim() * 4, Memory::device_local),
                vn(ctx, c.kv_dim() * 4, Memory::device_local), att_out(ctx, c.dim * 4, Memory::device_local);
            double worst_out = 0, worst_prob = 0, worst_stored = 0, worst_key = 0;
            const bool by_index = mode == PositionMode::cache_index;
            for (uint32_t step = 0; step < cs.steps; step++) {
                const std::vector<float> qv = rng.vector(c.dim, 2.0f), kv = rng.vector(c.kv_dim(), 2.0f),
                                         vv = rng.vector(c.kv_dim());
                q.upload(qv.data(), qv.size() * 4);
                kn.upload(kv.data(), kv.size() * 4);
                vn.upload(vv.data(), vv.size() * 4);
                const uint32_t pos = step;
                push::CacheEntry e{};
                e.n_entries = step + 1;
                e.pos = pos;
                e.q_pos = by_index ? step : pos;
                e.positions = static_cast<uint32_t>(mode);
                const std::vector<CacheTask> tasks = cache_tasks(gpu.layer(0), capacity, e);
                rec.begin();
                k.kv_append(rec, tasks, kn, vn, rope, cs.head_dim, 0);
                rec.barrier();
                k.attention(rec, tasks, q, rope, att_out, c.group_size(), cs.head_dim, static_cast<float>(qk_scale), 0,
                            0);
                rec.submit_and_wait();

                for (uint32_t h = 0; h < c.n_kv_heads; h++) {
                    append_entry(cpu, 0, h, &kv[h * cs.head_dim], &vv[h * cs.head_dim], pos, mode, {10000.0f});
                }
                const std::vector<float> got = read_floats(att_out, c.dim);
                const KvLayerSnapshot snap = gpu.read_layer(0);
                for (uint32_t h = 0; h < c.n_heads; h++) {
                    std::vector<float> probs, expected(cs.head_dim);
                    attend(cpu, 0, h / c.group_size(), &qv[h * cs.head_dim], by_index ? step : pos, mode, {10000.0f},
                           qk_scale, probs, expected.data());
                    for (uint32_t d = 0; d < cs.head_dim; d++) {
                        worst_out =
                            std::max(worst_out, static_cast<double>(std::fabs(got[h * cs.head_dim + d] - expected[d])));
                    }
                    for (uint32_t i = 0; i <= step; i++) {
                        worst_prob = std::max(worst_prob,
                                              static_cast<double>(std::fabs(snap.probs[h * capacity + i] - probs[i])));
                    }
                }
                // The order tables must agree exactly: the same slot for the same entry.
                for (uint32_t h = 0; h < c.n_kv_heads; h++) {
                    for (uint32_t i = 0; i <= step; i++) {
                        if (snap.order[h * capacity + i] != cpu.slot(0, h, i)) worst_out = INFINITY;
                    }
                    const uint32_t s = cpu.slot(0, h, step);
                    for (uint32_t d = 0; d < cs.head_dim; d++) {
                        const size_t at = (size_t{h} * capacity + s) * cs.head_dim + d;
                        worst_stored = std::max(
                            worst_stored, static_cast<double>(std::fabs(snap.values[at] - cpu.value(0, h, s)[d])));
                        worst_key =
                            std::max(worst_key, static_cast<double>(std::fabs(snap.keys[at] - cpu.key(0, h, s)[d])));
                    }
                }
            }
            const std::string name = shape("heads", cs.n_heads, "kv_heads", cs.n_kv_heads) + " " +
                                     shape("head_dim", cs.head_dim) + " " + shape("entries", cs.steps) +
                                     (by_index ? " cache-index " : " original ") + kv_types_name(type);
            // Values are in [-1, 1], so the output error is relative to the values' scale. Keys rotated
            // before an f16 store may round to neighbouring halves (the GPU rotates in float, the CPU
            // in double): a 2^-11 relative change of a key, far above float rounding.
            const double scale = type.k == KvType::f16 && !by_index ? 10.0 : 1.0;
            out.push_back(
                {"kv_append+attention", name, worst_out, kElementTolerance * scale, "|err| of output (|v| <= 1)"});
            out.push_back({"attention probs", name, worst_prob, kProbTolerance * scale, "|err|"});
            out.push_back({"kv_append values", name, worst_stored, 0.0, "|err|: bit-exact"});
            if (by_index) out.push_back({"kv_append keys", name, worst_key, 0.0, "|err|: bit-exact"});
        }
    }
}

// A prompt chunk's path: `before` entries cached, then n tokens appended in one
// kv_append and attending in one dispatch (kChunkQueries a workgroup, each
// query causal), from rows of [q | k | v] as the engine lays them out; each
// query's output and probabilities against append_entry + attend token by token.
void check_chunk_attention(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    struct Case {
        uint32_t n_heads, n_kv_heads, head_dim, before, n;
    };
    const Case cases[] = {{8, 4, 8, 0, 20}, {6, 6, 48, 33, 64}, {4, 1, 128, 5, 9}, {2, 2, 256, 70, 3}};
    Random rng(29);
    for (const Case& cs : cases) {
        for (auto [positions, kv_type] : {std::pair{PositionMode::cache_index, KvTypes(KvType::f32)},
                                          std::pair{PositionMode::original, KvTypes(KvType::f16)},
                                          std::pair{PositionMode::cache_index, KvTypes(KvType::q8_0)},
                                          std::pair{PositionMode::original, KvTypes(KvType::f32, KvType::q4_0)}}) {
            const PositionMode mode = positions;  // (a lambda below reads it: clang captures no structured binding)
            const KvTypes type = kv_type;
            ModelConfig c;
            c.n_layers = 1;
            c.n_heads = cs.n_heads;
            c.n_kv_heads = cs.n_kv_heads;
            c.dim = cs.n_heads * cs.head_dim;
            const uint32_t capacity = cs.before + cs.n + 2, first_pos = 3;      // positions need not start at 0
            const uint32_t q_dim = c.dim, stride = q_dim + 2 * c.kv_dim() + 5;  // a row: q, k, v, padding
            const uint32_t steps = cs.before + cs.n;
            const double qk_scale = cs.head_dim == 48 ? 0.125 : 1.0 / std::sqrt(static_cast<double>(cs.head_dim));
            KvCache cpu(c, capacity, type);
            KvCacheRing gpu(ctx, c, capacity, type);
            const std::vector<float> table = rope_table(first_pos + capacity, cs.head_dim, {10000.0f});
            const Buffer rope = device_vector(ctx, table);
            std::vector<float> rows_host(size_t{steps} * stride);
            for (float& x : rows_host) x = rng.uniform() * 2.0f;
            const Buffer rows = device_vector(ctx, rows_host);
            Buffer att_out(ctx, uint64_t{steps} * q_dim * 4, Memory::device_local);
            Buffer probs(ctx, uint64_t{cs.n} * c.n_heads * capacity * 4, Memory::device_local);
            // The entries before the chunk (appended as one chunk, attending nowhere), then the chunk.
            auto tasks_for = [&](uint32_t first, uint32_t n) {
                push::CacheEntry e{};
                e.n_entries = first + 1;
                e.pos = first_pos + first;
                e.q_pos = mode == PositionMode::cache_index ? first : e.pos;
                e.positions = static_cast<uint32_t>(mode);
                e.q_first = first * stride;
                e.k_first = e.q_first + q_dim;
                e.v_first = e.k_first + c.kv_dim();
                e.out_first = first * q_dim;
                e.tokens = n;
                e.probs_stride = c.n_heads * capacity;
                std::vector<CacheTask> tasks = cache_tasks(gpu.layer(0), capacity, e);
                for (CacheTask& t : tasks) {
                    t.chunk_probs = &probs;
                    t.entry.probs = 0;
                }
                return tasks;
            };
            rec.begin();
            if (cs.before > 0) {
                k.kv_append(rec, tasks_for(0, cs.before), rows, rows, rope, cs.head_dim, stride);
                rec.barrier();
            }
            const std::vector<CacheTask> chunk = tasks_for(cs.before, cs.n);
            k.kv_append(rec, chunk, rows, rows, rope, cs.head_dim, stride);
            rec.barrier();
            k.attention(rec, chunk, rows, rope, att_out, c.group_size(), cs.head_dim, static_cast<float>(qk_scale),
                        stride, q_dim);
            rec.submit_and_wait();

            const std::vector<float> got = read_floats(att_out, size_t{steps} * q_dim);
            const std::vector<float> got_probs = read_floats(probs, size_t{cs.n} * c.n_heads * capacity);
            double worst_out = 0, worst_prob = 0;
            for (uint32_t t = 0; t < steps; t++) {
                const float* row = &rows_host[size_t{t} * stride];
                for (uint32_t h = 0; h < c.n_kv_heads; h++) {
                    append_entry(cpu, 0, h, row + q_dim + h * cs.head_dim, row + q_dim + c.kv_dim() + h * cs.head_dim,
                                 first_pos + t, mode, {10000.0f});
                }
                if (t < cs.before) continue;
                const uint32_t j = t - cs.before;
                for (uint32_t h = 0; h < c.n_heads; h++) {
                    std::vector<float> p, expected(cs.head_dim);
                    attend(cpu, 0, h / c.group_size(), row + h * cs.head_dim,
                           mode == PositionMode::cache_index ? t : first_pos + t, mode, {10000.0f}, qk_scale, p,
                           expected.data());
                    for (uint32_t d = 0; d < cs.head_dim; d++) {
                        const float gpu_out = got[size_t{t} * q_dim + h * cs.head_dim + d];
                        worst_out = std::max(worst_out, static_cast<double>(std::fabs(gpu_out - expected[d])));
                    }
                    for (uint32_t i = 0; i <= t; i++) {
                        const float gpu_p = got_probs[(size_t{j} * c.n_heads + h) * capacity + i];
                        worst_prob = std::max(worst_prob, static_cast<double>(std::fabs(gpu_p - p[i])));
                    }
                }
            }
            const std::string name = shape("heads", cs.n_heads, "kv_heads", cs.n_kv_heads) + " " +
                                     shape("head_dim", cs.head_dim) + " " + shape("cached", cs.before, "chunk", cs.n) +
                                     (mode == PositionMode::cache_index ? " cache-index " : " original ") +
                                     kv_types_name(type);
            const double scale =
                type.k == KvType::f16 && mode == PositionMode::original ? 10.0 : 1.0;  // as check_attention says
            out.push_back({"chunk kv_append+attention", name, worst_out, kElementTolerance * scale,
                           "|err| of output (|v| <= 1)"});
            out.push_back({"chunk attention probs", name, worst_prob, kProbTolerance * scale, "|err|"});
        }
    }
}

// Every policy shader against compress_layer (model/policy.cpp) on random cache
// states: shuffled slots, random scores with forced ties and zeros, GQA-sized
// heads, several sink/recent layouts, every storage type. Indices must agree
// exactly; merged values bit for bit, up to float rounding.
void check_policies(Context& ctx, const Kernels& k, Recorder& rec, std::vector<ConformanceResult>& out) {
    std::vector<std::pair<PolicyKind, KvType>> policy_cases;
    for (KvType type : {KvType::f32, KvType::f16, KvType::q8_0, KvType::q4_0}) {
        for (const PolicyInfo& info : policy_table()) {
            if (info.compress_head) policy_cases.emplace_back(info.kind, type);
        }
    }
    struct Layout {
        uint32_t budget, kv_heads, head_dim;
        std::optional<uint32_t> sinks, recent;
    };
    const Layout layouts[] = {{4, 1, 8, 0, 0}, {8, 2, 16, {}, {}}, {33, 3, 64, 2, 5}, {64, 4, 128, {}, {}}};
    Random rng(16);
    for (const auto& [kind, type] : policy_cases) {
        double worst = 0;
        std::string cases;
        for (const Layout& lay : layouts) {
            PolicyRequest req;
            req.kind = kind;
            req.budget = lay.budget;
            req.sinks = lay.sinks;
            req.recent = policy_info(kind).recent == RecentRule::window ? std::nullopt : lay.recent;
            if (policy_info(kind).takes_cam_flags) {
                req.cam_n = 5;
                req.seed = 7;
            }
            CachePolicy policy;
            try {
                policy = resolve_policy(req, 4096);
            } catch (const Error&) {
                continue;  // a layout that does not fit this policy (e.g. too small for the default sinks)
            }
            ModelConfig c;
            c.n_layers = 1;
            c.n_kv_heads = lay.kv_heads;
            c.n_heads = lay.kv_heads * 2;
            c.dim = c.n_heads * lay.head_dim;
            for (uint32_t trial = 0; trial < 6; trial++) {
                // A cache of budget + 1 entries whose slots are not in order: fill, drop a few, refill.
                KvCache cpu(c, policy.slots(), type);
                const uint32_t L = policy.budget + 1;
                for (uint32_t h = 0; h < c.n_kv_heads; h++) {
                    uint32_t position = 0;
                    for (uint32_t i = 0; i < L; i++) cpu.append(0, h, position++);
                    for (uint32_t r = 0; r < std::min(3u, L - 1); r++)
                        cpu.remove(0, h, (trial + r * 5) % cpu.length(0, h));
                    while (cpu.length(0, h) < L) cpu.append(0, h, position++);
                    for (uint32_t slot = 0; slot < cpu.capacity(0); slot++) {
                        for (uint32_t d = 0; d < lay.head_dim; d++) cpu.value(0, h, slot)[d] = rng.uniform();
                        cpu.round_value(cpu.value(0, h, slot));
                        // Scores on a coarse grid so ties happen; trial 0 makes everything zero.
                        const float a = trial == 0 ? 0.0f : std::floor((rng.uniform() + 1.0f) * 4.0f) / 4.0f;
                        cpu.acc(0, h, slot) = a;
                        cpu.cnt(0, h, slot) = 1 + static_cast<uint32_t>((rng.uniform() + 1.0f) * 3.0f);
                    }
                }
                std::vector<float> last(L);
                for (float& x : last) x = trial == 1 ? 0.5f : std::floor((rng.uniform() + 1.0f) * 3.0f) / 8.0f;

                KvCacheRing gpu(ctx, c, policy.slots(), type);
                gpu.write_layer(0, snapshot_of(cpu, 0, c.n_heads, last));
                rec.begin();
                push::CacheEntry e{};
                e.n_entries = policy.budget + 1;
                e.step = trial;
                k.compress(rec, cache_tasks(gpu.layer(0), policy.slots(), e, &policy), 0, lay.head_dim);
                rec.submit_and_wait();
                compress_layer(cpu, 0, policy, {last, trial});
                const KvLayerSnapshot want = snapshot_of(cpu, 0, c.n_heads, last), got = gpu.read_layer(0);
                if (!same_tables(got, want, policy.slots())) worst = INFINITY;
                for (size_t i = 0; i < want.values.size(); i++) {
                    worst = std::max(worst, static_cast<double>(std::fabs(got.values[i] - want.values[i])));
                }
            }
            cases += (cases.empty() ? "m=" : ",") + std::to_string(lay.budget);
        }
        out.push_back({std::string("policy_") + policy_name(kind) + "_" + kv_type_name(type),
                       cases + " x6 random states (ties, zeros, GQA)", worst, 1e-6, "|err| of values; indices exact"});
    }
}

// Whole random models (MHA and GQA, odd sizes, every weight type): GPU logits vs CPU logits.
void check_models(Context& ctx, std::vector<ConformanceResult>& out) {
    struct Case {
        const char* name;
        uint32_t dim, hidden, layers, heads, kv_heads, vocab;
        TensorType type;
    };
    const Case cases[] = {
        {"MHA f32", 64, 96, 2, 4, 4, 67, TensorType::f32},     {"GQA f32", 96, 160, 2, 6, 2, 101, TensorType::f32},
        {"GQA f16 odd", 40, 70, 2, 5, 1, 33, TensorType::f16}, {"MHA q8_0", 128, 192, 2, 4, 4, 64, TensorType::q8_0},
        {"GQA q4_0", 128, 256, 3, 8, 2, 96, TensorType::q4_0},
    };
    for (const Case& cs : cases) {
        RandomModelOptions o;
        o.config.dim = cs.dim;
        o.config.hidden_dim = cs.hidden;
        o.config.n_layers = cs.layers;
        o.config.n_heads = cs.heads;
        o.config.n_kv_heads = cs.kv_heads;
        o.config.vocab_size = cs.vocab;
        o.config.context = 64;
        o.weight_type = weight_type(cs.type).ggml_id;
        o.seed = cs.dim + cs.layers;
        const Model model = model_from_bytes(random_llama_gguf(o));
        for (PositionMode mode : {PositionMode::cache_index, PositionMode::original}) {
            Reference cpu(model, 24, mode);
            const std::unique_ptr<BatchEngine> engine = make_gpu_engine(ctx, model, {full_cache(24, mode)});
            Sequence gpu(*engine);
            double worst = 0;
            for (uint32_t pos = 0; pos < 24; pos++) {
                const int32_t token = static_cast<int32_t>((pos * 7 + 3) % cs.vocab);
                const std::vector<float>& a = cpu.forward(token, pos);
                const std::vector<float>& b = gpu.forward(token, pos);
                double max_logit = 1.0, err = 0;
                for (size_t i = 0; i < a.size(); i++) {
                    max_logit = std::max(max_logit, static_cast<double>(std::fabs(a[i])));
                    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
                }
                worst = std::max(worst, err / max_logit);
            }
            out.push_back({"model",
                           std::string(cs.name) + (mode == PositionMode::cache_index ? " cache-index" : " original") +
                               " 24 steps",
                           worst, kLogitTolerance, "|err| / max|logit|"});
        }
    }
}

}  // namespace

std::vector<ConformanceResult> run_conformance(Context& ctx) {
    const Kernels kernels(ctx);
    Recorder rec(ctx);
    std::vector<ConformanceResult> out;
    check_matvec(ctx, kernels, rec, out);
    check_matvec_batched(ctx, kernels, rec, out);
    check_embedding(ctx, kernels, rec, out);
    check_elementwise(ctx, kernels, rec, out);
    check_nll(ctx, kernels, rec, out);
    check_argmax(ctx, kernels, rec, out);
    check_attention(ctx, kernels, rec, out);
    check_chunk_attention(ctx, kernels, rec, out);
    check_policies(ctx, kernels, rec, out);
    check_models(ctx, out);
    return out;
}

}  // namespace wkv
