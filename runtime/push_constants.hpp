// Push-constant blocks, field for field as the shaders in shaders/ declare
// them (std430: 4-byte scalars in order). Change both sides together.
#pragma once

#include <cstdint>

namespace wkv::push {

struct Matvec {  // matvec.comp
    uint32_t rows, cols, out_offset, accumulate, groups_x, rows_per_group, x_stride, out_stride;
};
struct Embedding {  // embedding.comp
    uint32_t row, cols;
};
struct Rmsnorm {  // rmsnorm.comp
    uint32_t n;
    float eps;
    uint32_t stride;
};
struct Swiglu {  // swiglu.comp
    uint32_t n, stride, rows;
};
struct KvAppend {  // kv_append.comp
    uint32_t capacity, head_dim, pos, positions, head_base, k_first, v_first;  // positions: PositionMode
};
struct Attention {  // attention.comp
    uint32_t group_size, capacity, head_dim, n_entries, q_pos, positions;  // positions: PositionMode
    float scale;
    uint32_t head_base;
};
struct ScoreAccumulate {  // score_accumulate.comp
    uint32_t capacity, n_entries, n_kv_heads, group_size, mean_first, layer_heads;
};
struct Policy {  // policy_common.glsl, every policy_*.comp
    uint32_t capacity, head_dim, n_entries, sinks, recent, cam_n, seed, step, layer, n_kv_heads, head_base;
};
struct Copy {  // copy.comp
    uint32_t n, threads;
};
struct Nll {  // nll.comp
    uint32_t n, target_id, result_index;
};

}  // namespace wkv::push
