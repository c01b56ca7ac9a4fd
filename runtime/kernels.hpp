// Every compute pipeline, created once, and how to dispatch each: the only
// place that knows a shader's bindings, push constants and workgroup counts.
#pragma once

#include <array>
#include <memory>
#include <span>
#include <vector>

#include "buffer.hpp"
#include "gpu_tensor.hpp"
#include "kv_cache_ring.hpp"
#include "pipeline.hpp"
#include "policy.hpp"
#include "push_constants.hpp"
#include "recorder.hpp"

namespace wkv {

// One group of KV heads (a KvLayer) of one sequence's cache, and what one
// token does to it, for the cache kernels below.
struct CacheTask {
    const KvLayer* group = nullptr;
    const CachePolicy* policy = nullptr;  // for compress()
    push::CacheEntry entry{};             // the shader's entry: sections and shape from the group
    // A prompt chunk's tokens (entry.tokens > 1) keep their probabilities here,
    // [token][query head][capacity] from entry.probs, not in the group's one-token section.
    const Buffer* chunk_probs = nullptr;
};

// A task per group of a layer's cache, each with `fields` but its own sections
// and shape, and the policy's parameters (with a policy).
std::vector<CacheTask> cache_tasks(const std::vector<KvLayer>& layer, uint32_t capacity, const push::CacheEntry& fields,
                                   const CachePolicy* policy = nullptr);

class Kernels {
public:
    static constexpr uint32_t kMaxHeadDim = 256;  // attention keeps one rotated query in shared memory
    static constexpr uint32_t kMaxBatch = 16;  // most vectors per matvec dispatch (its per-row sums live in registers)
    static constexpr uint32_t kChunkQueries = 8;  // most tokens of a prompt chunk one attention workgroup takes

    explicit Kernels(Context& ctx);

    // out = row `token` of the table, times `scale`.
    void embedding(Recorder& r, const GpuTensor& table, uint32_t token, BufferRange out, float scale = 1.0f) const;
    // out[b] (+)= scale * (W x[b]) for a batch of vectors laid out every x_stride / out_stride
    // floats, the result from element first_out on in each output vector; one dispatch per
    // chunk of W and per kMaxBatch vectors.
    void matvec(Recorder& r, const GpuTensor& w, BufferRange x, uint32_t x_stride, BufferRange out, uint32_t out_stride,
                uint32_t batch, bool accumulate, uint32_t first_out = 0, float scale = 1.0f) const;
    void matvec(Recorder& r, const GpuTensor& w, BufferRange x, BufferRange out, bool accumulate,
                float scale = 1.0f) const {
        matvec(r, w, x, 0, out, 0, 1, accumulate, 0, scale);
    }
    // out[b] = rmsnorm(x[b]) * weight for `batch` vectors every `stride` floats; with
    // `residual` non-zero, out[b] += residual * that instead (a post-norm's residual add).
    void rmsnorm(Recorder& r, BufferRange x, BufferRange weight, BufferRange out, uint32_t n, float eps,
                 uint32_t batch = 1, uint32_t stride = 0, float residual = 0.0f) const;
    // The same in place for `heads` vectors of n floats in each of `rows` rows: vector h of
    // row r at first + r * row_stride + h * n (a projection's heads, normed one by one).
    void head_rmsnorm(Recorder& r, BufferRange x, BufferRange weight, uint32_t n, float eps, uint32_t heads,
                      uint32_t rows, uint32_t row_stride, uint32_t first) const;
    // x[r * row_stride + i] += bias[i] for i < n, in each of `rows` rows.
    void bias_add(Recorder& r, BufferRange x, BufferRange bias, uint32_t n, uint32_t rows, uint32_t row_stride) const;
    // For `rows` vectors every `stride` floats, each [gate (n) | up (n)]:
    // gate = act(gate) * up, in place (act SiLU or GELU).
    void swiglu(Recorder& r, BufferRange gate_up, uint32_t n, uint32_t stride, uint32_t rows,
                Activation activation = Activation::silu) const;
    // x[r * row_stride + i] = cap * tanh(x / cap) for i < n in each of `rows` rows, in place.
    void softcap(Recorder& r, BufferRange x, uint32_t n, uint32_t row_stride, uint32_t rows, float cap) const;
    // The cache kernels take tasks: groups of KV heads of sequences' caches in
    // one layer (cache_tasks()), each with what the token does to it. Tasks
    // whose caches share buffers (KvCacheRing::batch packs a batch's so) run in
    // one dispatch, whatever their sequences, capacities, positions or counts.
    //
    // A task may carry several consecutive tokens of its sequence (entry.tokens,
    // a prompt chunk the cache takes without evicting), each `row_stride`
    // floats on from the one before in the activations.
    //
    // Appends each task's tokens: their keys and values ([n_kv_heads][head_dim]
    // each) from element k_first of k_new and v_first of v_new.
    void kv_append(Recorder& r, std::span<const CacheTask> tasks, BufferRange k_new, BufferRange v_new,
                   BufferRange rope, uint32_t head_dim, uint32_t row_stride) const;
    // Attention of each task's query heads (group_size per KV head, from q_first
    // of q; the output from out_first of out) over its n_entries entries, q.k
    // multiplied by `scale`; token j of a chunk over n_entries + j, a workgroup
    // taking kChunkQueries of them.
    void attention(Recorder& r, std::span<const CacheTask> tasks, BufferRange q, BufferRange rope, BufferRange out,
                   uint32_t group_size, uint32_t head_dim, float scale, uint32_t q_stride, uint32_t out_stride) const;
    // acc/cnt of every entry from the attention probabilities, and for tasks with
    // head_mean their average over the layer's query heads (PolicyInfo::uses_head_mean).
    void score_accumulate(Recorder& r, std::span<const CacheTask> tasks, uint32_t group_size,
                          uint32_t layer_heads) const;
    // One compression of each task's cache (holding its policy's budget + 1 entries).
    void compress(Recorder& r, std::span<const CacheTask> tasks, uint32_t layer_index, uint32_t head_dim) const;
    // tokens[b] = the first index of the largest of the n logits of vector b
    // (every `stride` floats), for b < rows: greedy decoding's next tokens.
    void argmax(Recorder& r, BufferRange logits, uint32_t n, uint32_t stride, uint32_t rows, BufferRange tokens) const;
    // result[index] = NLL of `target` under the logits.
    void nll(Recorder& r, BufferRange logits, BufferRange result, uint32_t n, uint32_t target, uint32_t index) const;

private:
    uint32_t matvec_rows(uint32_t batch) const;
    const Pipeline& matvec_pipeline(TensorType t, uint32_t batch) const;  // created when first used
    const Pipeline& embedding_pipeline(TensorType t) const;
    const Pipeline& kv_append_pipeline(KvTypes t) const;
    const Pipeline& attention_pipeline(KvTypes t, bool chunk) const;
    const Pipeline& policy_pipeline(const PolicyInfo& info, KvType values) const;
    // Dispatches `pipeline(task)` for the tasks, one dispatch per pipeline and
    // buffers: a column of workgroups per task (x), as many (y) as `width(task)`
    // of the widest (those past a task's width exit at once); `push` starts
    // with the first entry's index. Tasks along x, not y: a CPU driver hands
    // each thread a contiguous range of the grid, and along y every range would
    // hold whole sequences, one thread the long caches and another the short.
    template <typename Push>
    void dispatch_cache(Recorder& r, std::span<const CacheTask* const> tasks, const auto& pipeline, const auto& width,
                        Push push, std::initializer_list<BufferRange> own) const;

    Context& ctx_;
    // By row of the weight type table; matvec also by batch size - 1.
    mutable std::vector<std::array<std::unique_ptr<Pipeline>, kMaxBatch>> matvec_;
    std::vector<std::unique_ptr<Pipeline>> embedding_;
    std::unique_ptr<Pipeline> rmsnorm_, bias_add_, swiglu_, softcap_, argmax_, nll_, score_accumulate_;
    // The shaders that touch cached keys or values, by KvType of keys * kKvTypeCount + of values;
    // the policies by row of the policy table and type of values. Made when first used.
    mutable std::array<std::unique_ptr<Pipeline>, kKvTypeCount * kKvTypeCount> kv_append_, attention_,
        chunk_attention_;  // chunk: kChunkQueries tokens a workgroup
    mutable std::vector<std::array<std::unique_ptr<Pipeline>, kKvTypeCount>> policy_;
    // The device's shape. On a CPU driver (lavapipe) a workgroup is one subgroup,
    // so every workgroup is one SIMD loop that a thread runs without switching,
    // and matvec takes a row per invocation; on a GPU a workgroup of 64 invocations
    // and a subgroup per matvec row. Measured on lavapipe (wkv bench, eval-8m
    // q8_0 decode): 64 invocations with a subgroup per row 13.9 tok/s, a row per
    // invocation 15.1, four rows per invocation 21.3, workgroups of 8 30.4.
    bool cpu_driver_;
    uint32_t workgroup_;         // invocations per workgroup (a power of two)
    uint32_t matvec_row_slots_;  // what takes rows in a matvec workgroup: invocations, or subgroups
};

// RoPE cos/sin per position and pair, computed in double: [positions][head_dim / 2] of (cos, sin).
std::vector<float> rope_table(uint32_t positions, uint32_t head_dim, const RopeParams& rope_params);

}  // namespace wkv
