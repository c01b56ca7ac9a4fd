// Every compute pipeline, created once, and how to dispatch each: the only
// place that knows a shader's bindings, push constants and workgroup counts.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "buffer.hpp"
#include "gpu_tensor.hpp"
#include "kv_cache_ring.hpp"
#include "pipeline.hpp"
#include "policy.hpp"
#include "recorder.hpp"

namespace wkv {

class Kernels {
public:
    static constexpr uint32_t kMaxHeadDim = 256;   // attention keeps one rotated query in shared memory
    static constexpr uint32_t kMaxBatch = 16;      // most vectors per matvec dispatch (its per-row sums live in registers)

    explicit Kernels(Context& ctx);

    // out = row `token` of the table.
    void embedding(Recorder& r, const GpuTensor& table, uint32_t token, BufferRange out) const;
    // out[b] (+)= W x[b] for a batch of vectors laid out every x_stride / out_stride floats,
    // the result from element first_out on in each output vector; one dispatch per
    // chunk of W and per kMaxBatch vectors.
    void matvec(Recorder& r, const GpuTensor& w, BufferRange x, uint32_t x_stride, BufferRange out, uint32_t out_stride,
                uint32_t batch, bool accumulate, uint32_t first_out = 0) const;
    void matvec(Recorder& r, const GpuTensor& w, BufferRange x, BufferRange out, bool accumulate) const {
        matvec(r, w, x, 0, out, 0, 1, accumulate);
    }
    // out[b] = rmsnorm(x[b]) * weight for `batch` vectors every `stride` floats.
    void rmsnorm(Recorder& r, BufferRange x, BufferRange weight, BufferRange out, uint32_t n, float eps, uint32_t batch = 1,
                 uint32_t stride = 0) const;
    // For `rows` vectors every `stride` floats, each [gate (n) | up (n)]:
    // gate = silu(gate) * up, in place.
    void swiglu(Recorder& r, BufferRange gate_up, uint32_t n, uint32_t stride, uint32_t rows) const;
    // The cache kernels take a layer of a KvCacheRing, its groups of KV heads
    // (KvCacheRing::layer), and dispatch once per group.
    //
    // Appends the token at `pos` to the layer's cache: its keys and values
    // ([n_kv_heads][head_dim] each) from element k_first of k_new and v_first of v_new.
    void kv_append(Recorder& r, const std::vector<KvLayer>& layer, BufferRange k_new, uint32_t k_first, BufferRange v_new,
                   uint32_t v_first, BufferRange rope, uint32_t capacity, uint32_t head_dim, uint32_t pos, PositionMode positions) const;
    // Attention of the query heads (group_size per KV head) over the layer's `n_entries` entries.
    void attention(Recorder& r, BufferRange q, const std::vector<KvLayer>& layer, BufferRange rope, BufferRange out,
                   uint32_t group_size, uint32_t capacity, uint32_t head_dim, uint32_t n_entries, uint32_t q_pos,
                   PositionMode positions) const;
    // acc/cnt of every entry of the layer from the attention probabilities, and
    // with `head_mean` their average over the query heads (PolicyInfo::uses_head_mean).
    void score_accumulate(Recorder& r, const std::vector<KvLayer>& layer, uint32_t group_size, uint32_t capacity,
                          uint32_t n_entries, bool head_mean) const;
    // One compression of a layer holding policy.budget + 1 entries.
    void compress(Recorder& r, const std::vector<KvLayer>& layer, const CachePolicy& policy, uint32_t layer_index,
                  uint32_t capacity, uint32_t head_dim, uint32_t step) const;
    // result[index] = NLL of `target` under the logits.
    void nll(Recorder& r, BufferRange logits, BufferRange result, uint32_t n, uint32_t target, uint32_t index) const;

private:
    uint32_t matvec_rows(uint32_t batch) const;
    const Pipeline& matvec_pipeline(TensorType t, uint32_t batch) const;  // created when first used
    const Pipeline& embedding_pipeline(TensorType t) const;

    Context& ctx_;
    // By row of the weight type table; matvec also by batch size - 1.
    mutable std::vector<std::array<std::unique_ptr<Pipeline>, kMaxBatch>> matvec_;
    std::vector<std::unique_ptr<Pipeline>> embedding_;
    std::unique_ptr<Pipeline> rmsnorm_, swiglu_, nll_, score_accumulate_;
    // The shaders that touch cached keys or values, per storage type: [0] f32, [1] f16.
    std::unique_ptr<Pipeline> kv_append_[2], attention_[2];
    std::vector<std::array<std::unique_ptr<Pipeline>, 2>> policy_;  // by row of the policy table; none for full
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
