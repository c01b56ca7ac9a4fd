// Writing whole key and value rows (after kv_cache.glsl): a shader stages a
// row's head_dim floats in kv_staged, waits at a barrier, and stores it with
// store_key_row / store_value_row, each invocation encoding whole words of the
// row, so no two invocations write one word. Encodes as model/kv_row.cpp does
// (llama.cpp's q8_0 and q4_0 rounding), so device and host rows are equal bit
// for bit. A merge thus reads both values in f32 and rounds the result once.
const uint KV_STAGED = 256;  // Kernels::kMaxHeadDim, a whole number of blocks
shared float kv_staged[KV_STAGED];
shared float kv_scales[KV_STAGED / 32 + 1];  // each block's scale (block_scale), an empty one past an odd count

float staged(uint e, uint head_dim) { return e < head_dim ? kv_staged[e] : 0.0; }  // blocks pad with zeros

// roundf: halves away from zero (GLSL's round() may go either way).
float round_half_away(float x) {
    const float t = trunc(x);
    return abs(x - t) >= 0.5 ? t + sign(x) : t;
}

// A block's scale before it is rounded to f16: the codes are computed with it.
// q8_0: max|x| / 127; q4_0: -m / 8, m the value of largest magnitude (the first on ties).
float block_scale(uint type, uint block, uint head_dim) {
    if (block >= kv_blocks(head_dim)) return 0.0;  // the empty half of the last scale word
    float amax = 0.0, m = 0.0;
    for (uint j = 0; j < 32; j++) {
        const float x = staged(32 * block + j, head_dim);
        if (amax < abs(x)) {
            amax = abs(x);
            m = x;
        }
    }
    return type == KV_Q8_0 ? amax / 127.0 : m / -8.0;
}

uint q8_0_code(float x, float id) { return uint(int(round_half_away(x * id))) & 0xffu; }
uint q4_0_code(float x, float id) {
    precise float shifted = x * id + 8.5;  // no fused multiply-add: llama.cpp rounds the product
    return min(15u, uint(shifted));
}

// Every block's scale of the staged row into kv_scales, once, before its words are encoded.
void stage_scales(uint type, uint head_dim) {
    if (type == KV_F32 || type == KV_F16) return;
    for (uint b = gl_LocalInvocationID.x; b < 2 * kv_scale_words(head_dim); b += gl_WorkGroupSize.x)
        kv_scales[b] = block_scale(type, b, head_dim);
    barrier();
}

// Word w of the staged row stored as `type` (its scales staged).
uint kv_encode_word(uint type, uint head_dim, uint w) {
    if (type == KV_F32) return floatBitsToUint(kv_staged[w]);
    if (type == KV_F16) return packHalf2x16(vec2(kv_staged[2 * w], kv_staged[2 * w + 1]));
    const uint scales = kv_scale_words(head_dim);
    if (w < scales) {
        return packHalf2x16(vec2(kv_scales[2 * w], kv_scales[2 * w + 1]));
    }
    const uint block = (w - scales) / kv_block_words(type), first = (w - scales) % kv_block_words(type) * 4;
    const float d = kv_scales[block];
    const float id = d != 0.0 ? 1.0 / d : 0.0;
    const uint at = 32 * block + first;
    uint word = 0;
    for (uint b = 0; b < 4; b++) {
        const uint code = type == KV_Q8_0
            ? q8_0_code(staged(at + b, head_dim), id)
            : q4_0_code(staged(at + b, head_dim), id) | q4_0_code(staged(at + b + 16, head_dim), id) << 4;
        word |= code << (8 * b);
    }
    return word;
}

// Called by the whole workgroup (it waits at a barrier), the row staged.
void store_key_row(uint row, uint head_dim) {
    stage_scales(KV_K, head_dim);
    for (uint w = gl_LocalInvocationID.x; w < kv_row_words(KV_K, head_dim); w += gl_WorkGroupSize.x)
        keys[row + w] = kv_encode_word(KV_K, head_dim, w);
}
void store_value_row(uint row, uint head_dim) {
    stage_scales(KV_V, head_dim);
    for (uint w = gl_LocalInvocationID.x; w < kv_row_words(KV_V, head_dim); w += gl_WorkGroupSize.x)
        values[row + w] = kv_encode_word(KV_V, head_dim, w);
}
