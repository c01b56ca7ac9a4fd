#include "kernels.hpp"

#include <algorithm>
#include <cmath>

#include "push_constants.hpp"

namespace wkv {

namespace {

constexpr uint32_t kMaxGroupsX = 65535;  // the smallest maxComputeWorkGroupCount[0] Vulkan allows

// Row of `t` in the weight type table: the index of its pipelines.
size_t type_index(TensorType t) { return static_cast<size_t>(&weight_type(t) - weight_types().data()); }

int kv_index(KvType t) { return t == KvType::f16 ? 1 : 0; }

// The layer's cache sections at bindings 0..8, as kv_cache.glsl declares them, then the shader's own.
std::vector<BufferRange> cache_bindings(const KvLayer& l, std::initializer_list<BufferRange> own) {
    std::vector<BufferRange> b = {l.keys, l.values, l.acc, l.cnt, l.order, l.free, l.counts, l.probs, l.last};
    b.insert(b.end(), own);
    return b;
}
constexpr uint32_t kCacheSections = 9;

}  // namespace

Kernels::Kernels(Context& ctx)
    : ctx_(ctx),
      matvec_(weight_types().size()),
      cpu_driver_(ctx.info().type == "CPU"),
      workgroup_(cpu_driver_ ? std::max(1u, ctx.info().subgroup_size) : 64),
      matvec_row_slots_(cpu_driver_ ? workgroup_ : std::max(1u, workgroup_ / std::max(1u, ctx.info().subgroup_size))) {
    for (const WeightType& w : weight_types()) {
        embedding_.push_back(std::make_unique<Pipeline>(ctx, std::string("embedding_") + w.name, 2, sizeof(push::Embedding),
                                                        std::vector<uint32_t>{workgroup_}));
    }
    rmsnorm_ = std::make_unique<Pipeline>(ctx, "rmsnorm", 3, sizeof(push::Rmsnorm), std::vector<uint32_t>{workgroup_});
    swiglu_ = std::make_unique<Pipeline>(ctx, "swiglu", 1, sizeof(push::Swiglu), std::vector<uint32_t>{workgroup_});
    nll_ = std::make_unique<Pipeline>(ctx, "nll", 2, sizeof(push::Nll), std::vector<uint32_t>{workgroup_});
    score_accumulate_ = std::make_unique<Pipeline>(ctx, "score_accumulate", kCacheSections, sizeof(push::ScoreAccumulate),
                                                   std::vector<uint32_t>{workgroup_});
    for (int kv = 0; kv < 2; kv++) {
        const std::string suffix = kv == 0 ? "_f32" : "_f16";
        kv_append_[kv] = std::make_unique<Pipeline>(ctx, "kv_append" + suffix, kCacheSections + 3, sizeof(push::KvAppend),
                                                    std::vector<uint32_t>{workgroup_});
        attention_[kv] = std::make_unique<Pipeline>(ctx, "attention" + suffix, kCacheSections + 3, sizeof(push::Attention),
                                                    std::vector<uint32_t>{workgroup_, kMaxHeadDim});
    }
    for (const PolicyInfo& info : policy_table()) {
        policy_.emplace_back();
        if (!info.compress_head) continue;  // the full cache never compresses
        for (int kv = 0; kv < 2; kv++) {
            policy_.back()[kv] = std::make_unique<Pipeline>(ctx, std::string("policy_") + info.name + (kv == 0 ? "_f32" : "_f16"),
                                                            kCacheSections, sizeof(push::Policy), std::vector<uint32_t>{workgroup_});
        }
    }
}

// Rows each row slot computes together (matvec.comp's ROWS), so each input
// value loaded serves them all. With a subgroup per row, four rows made batches
// of 3 and 7 vectors 1.15-1.4x faster on lavapipe, and a single vector 1.2x
// slower; with a row per invocation four rows made a single vector 1.5x faster
// (two and eight were slower).
uint32_t Kernels::matvec_rows(uint32_t batch) const { return cpu_driver_ ? 4 : (batch == 1 ? 1 : 4); }

const Pipeline& Kernels::matvec_pipeline(TensorType t, uint32_t batch) const {
    std::unique_ptr<Pipeline>& p = matvec_[type_index(t)][batch - 1];
    if (!p) {
        p = std::make_unique<Pipeline>(ctx_, std::string("matvec_") + weight_type(t).name, 3, sizeof(push::Matvec),
                                       std::vector<uint32_t>{workgroup_, batch, matvec_rows(batch), cpu_driver_ ? 1u : 0u});
    }
    return *p;
}
const Pipeline& Kernels::embedding_pipeline(TensorType t) const { return *embedding_[type_index(t)]; }

void Kernels::embedding(Recorder& r, const GpuTensor& table, uint32_t token, BufferRange out) const {
    for (const GpuTensorChunk& c : table.chunks) {
        if (token < c.first_row || token >= c.first_row + c.rows) continue;
        r.dispatch(embedding_pipeline(table.type), {c.buffer, out}, push::Embedding{token - c.first_row, table.cols}, 1);
    }
}

void Kernels::matvec(Recorder& r, const GpuTensor& w, BufferRange x, uint32_t x_stride, BufferRange out, uint32_t out_stride,
                     uint32_t batch, bool accumulate, uint32_t first_out) const {
    for (uint32_t first = 0; first < batch; first += kMaxBatch) {
        const uint32_t n = std::min(kMaxBatch, batch - first);
        // Later groups of vectors bind the buffers from their first vector on (256-byte aligned strides).
        const BufferRange xs(*x.buffer, x.offset + uint64_t{first} * x_stride * 4, VK_WHOLE_SIZE);
        const BufferRange outs(*out.buffer, out.offset + uint64_t{first} * out_stride * 4, VK_WHOLE_SIZE);
        const uint32_t rows_per_group = matvec_row_slots_ * matvec_rows(n);
        for (const GpuTensorChunk& c : w.chunks) {
            const uint32_t groups = (c.rows + rows_per_group - 1) / rows_per_group;
            const uint32_t groups_x = std::min(groups, kMaxGroupsX);
            const uint32_t groups_y = (groups + groups_x - 1) / groups_x;
            r.dispatch(matvec_pipeline(w.type, n), {c.buffer, first ? xs : x, first ? outs : out},
                       push::Matvec{c.rows, w.cols, first_out + c.first_row, accumulate ? 1u : 0u, groups_x, rows_per_group,
                                    x_stride, out_stride},
                       groups_x, groups_y);
        }
    }
}

void Kernels::rmsnorm(Recorder& r, BufferRange x, BufferRange weight, BufferRange out, uint32_t n, float eps, uint32_t batch,
                      uint32_t stride) const {
    r.dispatch(*rmsnorm_, {x, weight, out}, push::Rmsnorm{n, eps, stride}, batch);
}

void Kernels::swiglu(Recorder& r, BufferRange gate_up, uint32_t n, uint32_t stride, uint32_t rows) const {
    r.dispatch(*swiglu_, {gate_up}, push::Swiglu{n, stride, rows}, (n * rows + workgroup_ - 1) / workgroup_);
}

void Kernels::kv_append(Recorder& r, const std::vector<KvLayer>& layer, BufferRange k_new, uint32_t k_first, BufferRange v_new,
                        uint32_t v_first, BufferRange rope, uint32_t capacity, uint32_t head_dim, uint32_t pos,
                        PositionMode positions) const {
    for (const KvLayer& g : layer) {
        r.dispatch(*kv_append_[kv_index(g.type)], cache_bindings(g, {k_new, v_new, rope}),
                   push::KvAppend{capacity, head_dim, pos, static_cast<uint32_t>(positions), g.first_head, k_first, v_first},
                   g.n_heads);
    }
}

void Kernels::attention(Recorder& r, BufferRange q, const std::vector<KvLayer>& layer, BufferRange rope, BufferRange out,
                        uint32_t group_size, uint32_t capacity, uint32_t head_dim, uint32_t n_entries, uint32_t q_pos,
                        PositionMode positions) const {
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
    for (const KvLayer& g : layer) {
        r.dispatch(*attention_[kv_index(g.type)], cache_bindings(g, {q, rope, out}),
                   push::Attention{group_size, capacity, head_dim, n_entries, q_pos, static_cast<uint32_t>(positions), scale,
                                   g.first_head * group_size},
                   g.n_heads * group_size);
    }
}

void Kernels::score_accumulate(Recorder& r, const std::vector<KvLayer>& layer, uint32_t group_size, uint32_t capacity,
                               uint32_t n_entries, bool head_mean) const {
    const uint32_t layer_heads = (layer.back().first_head + layer.back().n_heads) * group_size;
    for (const KvLayer& g : layer) {
        // The head mean runs on through the groups in order.
        if (head_mean && g.first_head > 0) r.barrier();
        // One workgroup per KV head, and one more for the head mean.
        r.dispatch(*score_accumulate_, cache_bindings(g, {}),
                   push::ScoreAccumulate{capacity, n_entries, g.n_heads, group_size, g.first_head * group_size, layer_heads},
                   g.n_heads + (head_mean ? 1 : 0));
    }
}

void Kernels::compress(Recorder& r, const std::vector<KvLayer>& layer, const CachePolicy& policy, uint32_t layer_index,
                       uint32_t capacity, uint32_t head_dim, uint32_t step) const {
    const PolicyInfo& info = policy_info(policy.kind);
    if (!info.compress_head) return;
    for (const KvLayer& g : layer) {
        const Pipeline& pipeline = *policy_[static_cast<size_t>(&info - policy_table().data())][kv_index(g.type)];
        r.dispatch(pipeline, cache_bindings(g, {}),
                   push::Policy{capacity, head_dim, policy.budget + 1, policy.sinks, policy.recent, policy.cam_n, policy.seed, step,
                                layer_index, g.n_heads, g.first_head},
                   info.per_layer ? 1 : g.n_heads);  // one workgroup per KV head, or one choice per layer
    }
}

void Kernels::nll(Recorder& r, BufferRange logits, BufferRange result, uint32_t n, uint32_t target, uint32_t index) const {
    r.dispatch(*nll_, {logits, result}, push::Nll{n, target, index}, 1);
}

std::vector<float> rope_table(uint32_t positions, uint32_t head_dim, const RopeParams& rope_params) {
    std::vector<float> table(static_cast<size_t>(positions) * head_dim);
    for (uint32_t pos = 0; pos < positions; pos++) {
        for (uint32_t i = 0; i < head_dim / 2; i++) {
            // The same angle as rope() in model/reference.cpp.
            const double freq = std::pow(static_cast<double>(rope_params.theta), -static_cast<double>(2 * i) / head_dim);
            const double angle = pos * static_cast<double>(rope_params.scale) * freq;
            table[(static_cast<size_t>(pos) * (head_dim / 2) + i) * 2] = static_cast<float>(std::cos(angle));
            table[(static_cast<size_t>(pos) * (head_dim / 2) + i) * 2 + 1] = static_cast<float>(std::sin(angle));
        }
    }
    return table;
}

}  // namespace wkv
