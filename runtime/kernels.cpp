#include "kernels.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "push_constants.hpp"
#include "reference.hpp"  // rope_angle

namespace wkv {

namespace {

constexpr uint32_t kMaxGroupsX = 65535;  // the smallest maxComputeWorkGroupCount[0] Vulkan allows

// Row of `t` in the weight type table: the index of its pipelines.
size_t type_index(TensorType t) { return static_cast<size_t>(&weight_type(t) - weight_types().data()); }

size_t kv_index(KvType t) { return static_cast<size_t>(t); }
// Which of the pipelines built per type of keys and of values a layer's group takes.
size_t kv_pair_index(KvTypes t) { return kv_index(t.k) * kKvTypeCount + kv_index(t.v); }
std::string kv_suffix(KvTypes t) { return std::string("_") + kv_type_name(t.k) + "_" + kv_type_name(t.v); }

// The cache sections at bindings 0..9 and the entries at 10, as kv_cache.glsl declares them.
constexpr uint32_t kCacheSections = 10;
constexpr uint32_t kCacheBindings = 11;

}  // namespace

Kernels::Kernels(Context& ctx)
    : ctx_(ctx),
      matvec_(weight_types().size()),
      cpu_driver_(ctx.info().type == "CPU"),
      workgroup_(cpu_driver_ ? std::max(1u, ctx.info().subgroup_size) : 64),
      matvec_row_slots_(cpu_driver_ ? workgroup_ : std::max(1u, workgroup_ / std::max(1u, ctx.info().subgroup_size))) {
    for (const WeightType& w : weight_types()) {
        embedding_.push_back(std::make_unique<Pipeline>(ctx, std::string("embedding_") + w.name, 2,
                                                        sizeof(push::Embedding), std::vector<uint32_t>{workgroup_}));
    }
    rmsnorm_ = std::make_unique<Pipeline>(ctx, "rmsnorm", 3, sizeof(push::Rmsnorm), std::vector<uint32_t>{workgroup_});
    bias_add_ =
        std::make_unique<Pipeline>(ctx, "bias_add", 2, sizeof(push::BiasAdd), std::vector<uint32_t>{workgroup_});
    swiglu_ = std::make_unique<Pipeline>(ctx, "swiglu", 1, sizeof(push::Swiglu), std::vector<uint32_t>{workgroup_});
    softcap_ = std::make_unique<Pipeline>(ctx, "softcap", 1, sizeof(push::Softcap), std::vector<uint32_t>{workgroup_});
    argmax_ = std::make_unique<Pipeline>(ctx, "argmax", 2, sizeof(push::Argmax), std::vector<uint32_t>{workgroup_});
    nll_ = std::make_unique<Pipeline>(ctx, "nll", 2, sizeof(push::Nll), std::vector<uint32_t>{workgroup_});
    score_accumulate_ = std::make_unique<Pipeline>(ctx, "score_accumulate", kCacheBindings,
                                                   sizeof(push::ScoreAccumulate), std::vector<uint32_t>{workgroup_});
    policy_.resize(policy_table().size());
}

// The cache shaders are built for every type of keys and values (16 pairs), so
// each pipeline is made when a cache of its types first needs it.
const Pipeline& Kernels::kv_append_pipeline(KvTypes t) const {
    std::unique_ptr<Pipeline>& p = kv_append_[kv_pair_index(t)];
    if (!p) {
        p = std::make_unique<Pipeline>(ctx_, "kv_append" + kv_suffix(t), kCacheBindings + 3, sizeof(push::KvAppend),
                                       std::vector<uint32_t>{workgroup_});
    }
    return *p;
}

const Pipeline& Kernels::attention_pipeline(KvTypes t, bool chunk) const {
    std::unique_ptr<Pipeline>& p = (chunk ? chunk_attention_ : attention_)[kv_pair_index(t)];
    if (!p) {
        p = std::make_unique<Pipeline>(ctx_, "attention" + kv_suffix(t), kCacheBindings + 3, sizeof(push::Attention),
                                       std::vector<uint32_t>{workgroup_, kMaxHeadDim, chunk ? kChunkQueries : 1});
    }
    return *p;
}

const Pipeline& Kernels::policy_pipeline(const PolicyInfo& info, KvType values) const {
    std::unique_ptr<Pipeline>& p = policy_[static_cast<size_t>(&info - policy_table().data())][kv_index(values)];
    if (!p) {
        p = std::make_unique<Pipeline>(ctx_, std::string("policy_") + info.name + "_" + kv_type_name(values),
                                       kCacheBindings, sizeof(push::Policy), std::vector<uint32_t>{workgroup_});
    }
    return *p;
}

// Rows each row slot computes together (matvec.comp's ROWS), so each input
// value loaded serves them all. With a subgroup per row, four rows made batches
// of 3 and 7 vectors 1.15-1.4x faster on lavapipe, and a single vector 1.2x
// slower; with a row per invocation four rows made a single vector 1.5x faster
// (two and eight were slower). A CPU driver loads inputs lane by lane, so a
// batch's vectors cost loads in proportion to batch / ROWS: for a prompt
// chunk's batches of 16, eight rows made prefill 1.38x faster on the eval
// model (16 and 32 rows: 1.6x and 1.8x, but each batch size's pipeline then
// took 15 and 50 s to compile on lavapipe, against 3.5 s more for eight).
uint32_t Kernels::matvec_rows(uint32_t batch) const {
    if (cpu_driver_) return batch >= 8 ? 8 : 4;
    return batch == 1 ? 1 : 4;
}

const Pipeline& Kernels::matvec_pipeline(TensorType t, uint32_t batch) const {
    std::unique_ptr<Pipeline>& p = matvec_[type_index(t)][batch - 1];
    if (!p) {
        p = std::make_unique<Pipeline>(
            ctx_, std::string("matvec_") + weight_type(t).name, 3, sizeof(push::Matvec),
            std::vector<uint32_t>{workgroup_, batch, matvec_rows(batch), cpu_driver_ ? 1u : 0u});
    }
    return *p;
}
const Pipeline& Kernels::embedding_pipeline(TensorType t) const { return *embedding_[type_index(t)]; }

void Kernels::embedding(Recorder& r, const GpuTensor& table, uint32_t token, BufferRange out, float scale) const {
    for (const GpuTensorChunk& c : table.chunks) {
        if (token < c.first_row || token >= c.first_row + c.rows) continue;
        r.dispatch(embedding_pipeline(table.type), {c.buffer, out},
                   push::Embedding{token - c.first_row, table.cols, scale}, 1);
    }
}

void Kernels::matvec(Recorder& r, const GpuTensor& w, BufferRange x, uint32_t x_stride, BufferRange out,
                     uint32_t out_stride, uint32_t batch, bool accumulate, uint32_t first_out, float scale) const {
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
                       push::Matvec{c.rows, w.cols, first_out + c.first_row, accumulate ? 1u : 0u, groups_x,
                                    rows_per_group, x_stride, out_stride, scale},
                       groups_x, groups_y);
        }
    }
}

void Kernels::rmsnorm(Recorder& r, BufferRange x, BufferRange weight, BufferRange out, uint32_t n, float eps,
                      uint32_t batch, uint32_t stride, float residual) const {
    r.dispatch(*rmsnorm_, {x, weight, out}, push::Rmsnorm{n, eps, stride, 0, 0, residual}, batch);
}

void Kernels::head_rmsnorm(Recorder& r, BufferRange x, BufferRange weight, uint32_t n, float eps, uint32_t heads,
                           uint32_t rows, uint32_t row_stride, uint32_t first) const {
    r.dispatch(*rmsnorm_, {x, weight, x}, push::Rmsnorm{n, eps, n, row_stride, first}, heads, rows);
}

void Kernels::bias_add(Recorder& r, BufferRange x, BufferRange bias, uint32_t n, uint32_t rows,
                       uint32_t row_stride) const {
    r.dispatch(*bias_add_, {x, bias}, push::BiasAdd{n, row_stride}, (n + workgroup_ - 1) / workgroup_, rows);
}

void Kernels::swiglu(Recorder& r, BufferRange gate_up, uint32_t n, uint32_t stride, uint32_t rows,
                     Activation activation) const {
    const uint32_t kind = activation == Activation::silu ? 0u : activation == Activation::gelu_tanh ? 1u : 2u;
    r.dispatch(*swiglu_, {gate_up}, push::Swiglu{n, stride, rows, kind}, (n * rows + workgroup_ - 1) / workgroup_);
}

void Kernels::softcap(Recorder& r, BufferRange x, uint32_t n, uint32_t row_stride, uint32_t rows, float cap) const {
    r.dispatch(*softcap_, {x}, push::Softcap{n, row_stride, cap}, (n + workgroup_ - 1) / workgroup_, rows);
}

std::vector<CacheTask> cache_tasks(const std::vector<KvLayer>& layer, uint32_t capacity, const push::CacheEntry& fields,
                                   const CachePolicy* policy) {
    std::vector<CacheTask> tasks;
    for (const KvLayer& g : layer) {
        CacheTask t{&g, policy, fields};
        push::CacheEntry& e = t.entry;
        // Sections are bound whole from the start of their buffer, so a base is an offset in elements.
        e.keys = static_cast<uint32_t>(g.keys.offset / 4);  // keys and values too are words
        e.values = static_cast<uint32_t>(g.values.offset / 4);
        e.acc = static_cast<uint32_t>(g.acc.offset / 4);
        e.cnt = static_cast<uint32_t>(g.cnt.offset / 4);
        e.order = static_cast<uint32_t>(g.order.offset / 4);
        e.free = static_cast<uint32_t>(g.free.offset / 4);
        e.counts = static_cast<uint32_t>(g.counts.offset / 4);
        e.probs = static_cast<uint32_t>(g.probs.offset / 4);
        e.last = static_cast<uint32_t>(g.last.offset / 4);
        e.provenance = static_cast<uint32_t>(g.provenance.offset / 4);
        e.capacity = capacity;
        e.first_head = g.first_head;
        e.n_heads = g.n_heads;
        if (policy) {
            e.sinks = policy->sinks;
            e.recent = policy->recent;
            e.cam_n = policy->cam_n;
            e.seed = policy->seed;
        }
        tasks.push_back(t);
    }
    return tasks;
}

template <typename Push>
void Kernels::dispatch_cache(Recorder& r, std::span<const CacheTask* const> tasks, const auto& pipeline,
                             const auto& width, Push push, std::initializer_list<BufferRange> own) const {
    // Tasks in order, gathered by what one dispatch binds: the pipeline, the
    // sections' buffer and the buffer of `last` (a split layer's first group's).
    std::vector<std::vector<const CacheTask*>> batches;
    auto same = [&](const CacheTask* a, const CacheTask* b) {
        return &pipeline(*a) == &pipeline(*b) && a->group->keys.buffer == b->group->keys.buffer &&
               a->group->last.buffer == b->group->last.buffer && a->chunk_probs == b->chunk_probs;
    };
    for (const CacheTask* t : tasks) {
        auto it = std::find_if(batches.begin(), batches.end(), [&](const auto& b) { return same(b.front(), t); });
        if (it == batches.end()) {
            batches.push_back({t});
        } else {
            it->push_back(t);
        }
    }
    // Batches that bind a buffer in common are ordered by a barrier. What they touch
    // there is disjoint (each sequence and group has its own sections), but a shader
    // binds whole buffers, so neither the API nor a GPU can know that: a split layer's
    // groups share the first group's `last`, and policies of one buffer its sections.
    std::vector<const Buffer*> bound;
    for (const std::vector<const CacheTask*>& batch : batches) {
        const KvLayer& layer = *batch.front()->group;
        const std::array<const Buffer*, 2> uses = {layer.keys.buffer, layer.last.buffer};
        if (std::any_of(uses.begin(), uses.end(),
                        [&](const Buffer* b) { return std::find(bound.begin(), bound.end(), b) != bound.end(); })) {
            r.barrier();
            bound.clear();
        }
        bound.insert(bound.end(), uses.begin(), uses.end());
        std::vector<push::CacheEntry> entries;
        uint32_t groups_y = 1;
        for (const CacheTask* t : batch) {
            entries.push_back(t->entry);
            groups_y = std::max(groups_y, width(*t));
        }
        push.first = r.add_entries(entries.data(), static_cast<uint32_t>(entries.size()), sizeof(push::CacheEntry));
        const KvLayer& g = *batch.front()->group;
        const Buffer& sections = *g.keys.buffer;
        std::vector<BufferRange> bindings(kCacheSections - 2, BufferRange(sections));
        if (batch.front()->chunk_probs) bindings.back() = BufferRange(*batch.front()->chunk_probs);  // binding 7, probs
        bindings.push_back(BufferRange(*g.last.buffer));                                             // 8
        bindings.push_back(BufferRange(sections));                                                   // 9, provenance
        bindings.push_back(BufferRange(r.entries()));
        bindings.insert(bindings.end(), own);
        r.dispatch(pipeline(*batch.front()), std::span<const BufferRange>(bindings), push,
                   static_cast<uint32_t>(batch.size()), groups_y);
    }
}

namespace {
std::vector<const CacheTask*> pointers(std::span<const CacheTask> tasks) {
    std::vector<const CacheTask*> out;
    for (const CacheTask& t : tasks) out.push_back(&t);
    return out;
}
}  // namespace

void Kernels::kv_append(Recorder& r, std::span<const CacheTask> tasks, BufferRange k_new, BufferRange v_new,
                        BufferRange rope, uint32_t head_dim, uint32_t row_stride) const {
    dispatch_cache(
        r, pointers(tasks), [&](const CacheTask& t) -> const Pipeline& { return kv_append_pipeline(t.group->type); },
        [](const CacheTask& t) { return t.entry.n_heads; }, push::KvAppend{0, head_dim, row_stride},
        {k_new, v_new, rope});
}

void Kernels::attention(Recorder& r, std::span<const CacheTask> tasks, BufferRange q, BufferRange rope, BufferRange out,
                        uint32_t group_size, uint32_t head_dim, float scale, uint32_t q_stride,
                        uint32_t out_stride) const {
    // A chunk's tokens in blocks of kChunkQueries, an entry each.
    std::vector<CacheTask> blocks;
    for (const CacheTask& t : tasks) {
        for (uint32_t j = 0; j < t.entry.tokens; j += kChunkQueries) {
            CacheTask b = t;
            push::CacheEntry& e = b.entry;
            e.tokens = std::min(kChunkQueries, t.entry.tokens - j);
            e.n_entries += j;
            e.pos += j;
            e.q_pos += j;
            e.q_first += j * q_stride;
            e.out_first += j * out_stride;
            e.probs += j * t.entry.probs_stride;
            blocks.push_back(b);
        }
    }
    auto pipeline = [&](const CacheTask& t) -> const Pipeline& {
        return attention_pipeline(t.group->type, t.chunk_probs);
    };
    dispatch_cache(r, pointers(blocks), pipeline, [&](const CacheTask& t) { return t.entry.n_heads * group_size; },
                   push::Attention{0, group_size, head_dim, scale, q_stride, out_stride}, {q, rope, out});
}

void Kernels::score_accumulate(Recorder& r, std::span<const CacheTask> tasks, uint32_t group_size,
                               uint32_t layer_heads) const {
    // A split layer's head mean runs on through its groups in order: the k-th
    // group of every task's layer goes in round k, with a barrier between rounds.
    std::vector<std::vector<const CacheTask*>> rounds;
    for (size_t i = 0; i < tasks.size(); i++) {
        size_t round = 0;
        for (size_t j = 0; j < i; j++) {
            const BufferRange &a = tasks[j].group->last, &b = tasks[i].group->last;
            if (a.buffer == b.buffer && a.offset == b.offset) round++;
        }
        if (round >= rounds.size()) rounds.resize(round + 1);
        rounds[round].push_back(&tasks[i]);
    }
    for (size_t k = 0; k < rounds.size(); k++) {
        if (k > 0) r.barrier();
        // One workgroup per KV head, and one more for the head mean.
        dispatch_cache(
            r, rounds[k], [&](const CacheTask&) -> const Pipeline& { return *score_accumulate_; },
            [](const CacheTask& t) { return t.entry.n_heads + t.entry.head_mean; },
            push::ScoreAccumulate{0, group_size, layer_heads}, {});
    }
}

void Kernels::compress(Recorder& r, std::span<const CacheTask> tasks, uint32_t layer_index, uint32_t head_dim) const {
    std::vector<const CacheTask*> compressing;
    for (const CacheTask& t : tasks) {
        if (t.policy && policy_info(t.policy->kind).compress_head) compressing.push_back(&t);
    }
    auto info = [](const CacheTask& t) -> const PolicyInfo& { return policy_info(t.policy->kind); };
    dispatch_cache(
        r, compressing,
        [&](const CacheTask& t) -> const Pipeline& { return policy_pipeline(info(t), t.group->type.v); },
        [&](const CacheTask& t) {
            return info(t).per_layer ? 1u : t.entry.n_heads;
        },  // a workgroup per KV head, or one choice per layer
        push::Policy{0, head_dim, layer_index}, {});
}

void Kernels::argmax(Recorder& r, BufferRange logits, uint32_t n, uint32_t stride, uint32_t rows,
                     BufferRange tokens) const {
    r.dispatch(*argmax_, {logits, tokens}, push::Argmax{n, stride}, rows);
}

void Kernels::nll(Recorder& r, BufferRange logits, BufferRange result, uint32_t n, uint32_t target,
                  uint32_t index) const {
    r.dispatch(*nll_, {logits, result}, push::Nll{n, target, index}, 1);
}

std::vector<float> rope_table(uint32_t positions, uint32_t head_dim, const RopeParams& rope_params) {
    std::vector<float> table(static_cast<size_t>(positions) * head_dim);
    for (uint32_t pos = 0; pos < positions; pos++) {
        for (uint32_t i = 0; i < head_dim / 2; i++) {
            const auto [c, s] = rope_cos_sin(pos, i, head_dim, rope_params);  // the CPU reference's
            table[(static_cast<size_t>(pos) * (head_dim / 2) + i) * 2] = static_cast<float>(c);
            table[(static_cast<size_t>(pos) * (head_dim / 2) + i) * 2 + 1] = static_cast<float>(s);
        }
    }
    return table;
}

}  // namespace wkv
