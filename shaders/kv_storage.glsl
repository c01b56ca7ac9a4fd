// How the cache stores keys and values: as pairs of adjacent dimensions, the
// unit RoPE rotates. A pair is a vec2 of f32, or, built with KV_F16, one
// 32-bit word of two f16 (packHalf2x16 rounds to nearest), which halves the
// cache and needs no 16-bit storage feature. Either way pair i of (head, slot)
// is element (head * capacity + slot) * head_dim / 2 + i of the section.
#if KV_F16
#define KV_PAIR uint
#define KV_UNPACK(word) unpackHalf2x16(word)
#define KV_PACK(pair) packHalf2x16(pair)
#else
#define KV_PAIR vec2
#define KV_UNPACK(word) (word)
#define KV_PACK(pair) (pair)
#endif
