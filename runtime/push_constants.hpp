// Push-constant blocks, field for field as the shaders in shaders/ declare
// them (std430: 4-byte scalars in order). Change both sides together.
#pragma once

#include <cstdint>

namespace wkv::push {

struct Matvec {  // matvec.comp
    uint32_t rows, cols, out_offset, accumulate, groups_x, rows_per_group, x_stride, out_stride;
    float scale;
};
struct Embedding {  // embedding.comp
    uint32_t row, cols;
    float scale;
};
struct Rmsnorm {  // rmsnorm.comp
    uint32_t n;
    float eps;
    uint32_t stride, row_stride, first;
    float residual = 0.0f;  // 0: out = the normed x; else out += residual * it
};
struct BiasAdd {  // bias_add.comp
    uint32_t n, row_stride;
};
struct Softcap {  // softcap.comp
    uint32_t n, row_stride;
    float cap;
};
struct Swiglu {  // swiglu.comp
    uint32_t n, stride, rows;
    uint32_t activation;  // 0: SiLU; 1: GELU (tanh form); 2: the same through f16 (Activation::gelu_tanh_f16)
};
// One group of KV heads of one sequence in a dispatch of a cache shader:
// kv_cache.glsl's CacheEntry, read from a buffer (Recorder::add_entries), not
// pushed. Bases count elements from the start of the bound buffer: pairs of
// keys or values (8 bytes in f32, 4 in f16), or 4-byte words.
struct CacheEntry {
    uint32_t keys, values, acc, cnt, order, free, counts, probs, last, provenance;  // where the group's sections start
    uint32_t capacity, first_head, n_heads;
    uint32_t n_entries, pos, q_pos, positions;  // positions: PositionMode
    uint32_t q_first, k_first, v_first, out_first;
    uint32_t step, sinks, recent, cam_n, seed;
    uint32_t head_mean;
    uint32_t tokens = 1;  // consecutive tokens of one sequence (a prompt chunk's), each one row on in q/k/v/out
    uint32_t probs_stride = 0;
};
struct KvAppend {  // kv_append.comp
    uint32_t first, head_dim, row_stride;
};
struct Attention {  // attention.comp
    uint32_t first, group_size, head_dim;
    float scale;
    uint32_t q_stride, out_stride;
};
struct ScoreAccumulate {  // score_accumulate.comp
    uint32_t first, group_size, layer_heads;
};
struct Policy {  // policy_common.glsl, every policy_*.comp
    uint32_t first, head_dim, layer;
};
struct Copy {  // copy.comp
    uint32_t n, threads;
};
struct Argmax {  // argmax.comp
    uint32_t n, stride;
};
struct Nll {  // nll.comp
    uint32_t n, target_id, result_index;
};

}  // namespace wkv::push
