// One layer's KV cache (runtime/kv_cache_ring.hpp): its sections are bound at
// the same numbers in every shader that touches the cache, in KvLayer order,
// so no two shaders disagree on where a section is. A shader's own buffers
// start at binding KV_BINDINGS. Mirrors KvCache (model/kv_cache.hpp) slot
// for slot.
//
// A key or value is one KV head's row of head_dim values, stored in 32-bit
// words as model/kv_row.hpp lays them out for its type: f32, f16 (a pair of
// halves a word), or llama.cpp's q8_0 and q4_0 blocks of 32 (the row's f16
// scales first, two a word, then each block's codes). Keys have type KV_K and
// values KV_V, fixed when the shader is built; row r of a section starts at
// word r * kv_row_words(type, head_dim), r = head * capacity + slot. A shader
// reads pairs of adjacent dimensions, the unit RoPE rotates, and decodes each
// from at most two words of the row (kv_pair).
const uint KV_F32 = 0, KV_F16 = 1, KV_Q8_0 = 2, KV_Q4_0 = 3;  // KvType's order
#ifndef KV_K
#define KV_K 0  // shaders that never read keys or values build once
#endif
#ifndef KV_V
#define KV_V 0
#endif

uint kv_blocks(uint head_dim) { return (head_dim + 31) / 32; }
uint kv_scale_words(uint head_dim) { return (kv_blocks(head_dim) + 1) / 2; }
// Words of code per block.
uint kv_block_words(uint type) { return type == KV_Q8_0 ? 8 : 4; }

uint kv_row_words(uint type, uint head_dim) {
    if (type == KV_F32) return head_dim;
    if (type == KV_F16) return head_dim / 2;
    return kv_scale_words(head_dim) + kv_blocks(head_dim) * kv_block_words(type);
}

// The two words of a row that pair i (dimensions 2i, 2i + 1) is decoded from:
// for the block types its block's scale word and the word of its codes.
uvec2 kv_pair_words(uint type, uint head_dim, uint i) {
    if (type == KV_F32) return uvec2(2 * i, 2 * i + 1);
    if (type == KV_F16) return uvec2(i, i);
    const uint block = 2 * i / 32, j = 2 * i % 32;  // j: the pair's first value in its block
    const uint byte = type == KV_Q8_0 ? j : j % 16;  // q4_0: values j and j + 16 share byte j
    return uvec2(block / 2, kv_scale_words(head_dim) + block * kv_block_words(type) + byte / 4);
}

vec2 kv_pair(uint type, uint i, uvec2 words) {
    if (type == KV_F32) return uintBitsToFloat(words);
    if (type == KV_F16) return unpackHalf2x16(words.x);
    const uint j = 2 * i % 32;
    const float d = unpackHalf2x16(words.x)[i / 16 % 2];  // blocks 2m and 2m + 1 share a scale word
    if (type == KV_Q8_0) {
        const int shift = int(j % 4) * 8;
        return vec2(bitfieldExtract(int(words.y), shift, 8), bitfieldExtract(int(words.y), shift + 8, 8)) * d;
    }
    const int shift = int(j % 16 % 4) * 8 + (j < 16 ? 0 : 4);
    return (vec2(bitfieldExtract(words.y, shift, 4), bitfieldExtract(words.y, shift + 8, 4)) - 8.0) * d;
}

// Every sequence of a batch, and every group of a split layer, has its
// sections at its own place in these buffers (runtime/kv_cache_ring.hpp packs
// them), so one dispatch serves them all: workgroup column x works on the
// entries[] element `first + x`, which says where its sections start and what
// the step does to it. Indices below count from those starts.
layout(std430, binding = 0) buffer Keys { uint keys[]; };           // [kv_head][slot]: a row of KV_K
layout(std430, binding = 1) buffer Values { uint values[]; };       // [kv_head][slot]: a row of KV_V
layout(std430, binding = 2) buffer Acc { float acc[]; };            // [kv_head][slot]: attention received, summed
layout(std430, binding = 3) buffer Cnt { uint cnt[]; };             // [kv_head][slot]: steps seen, its own included
layout(std430, binding = 4) buffer Order { uint order_[]; };        // [kv_head][capacity]: logical index -> slot
layout(std430, binding = 5) buffer Free { uint free_slots[]; };     // [kv_head][capacity]: a stack of free slots
layout(std430, binding = 6) buffer Counts { uint counts[]; };       // [kv_head] x COUNTS, the fields below
layout(std430, binding = 7) coherent buffer Probs { float probs[]; };  // [query head][capacity]: last attention
                                                                    // (a prompt chunk's: [token][query head][capacity], in a buffer of the engine's)
layout(std430, binding = 8) buffer Last { float last[]; };          // [logical index]: probs averaged over heads (TOVA)
// Where each entry's value came from (model/kv_cache.hpp, Provenance): never
// read by attention, only by the host when it asks for a view of the cache.
// Three words per slot, so that a section's start, a multiple of 4 bytes, is
// an index: the token's absolute position; the tokens whose values were merged
// into this one, through chains; the weights they were added with, summed
// (float bits).
layout(std430, binding = 9) buffer Provenances { uint provenance[]; };  // [kv_head][slot][3]
const uint PROVENANCE = 3, POSITION = 0, MERGED = 1, MERGE_WEIGHT = 2;

// A head's counts: its entries and free slots now, and since the cache was
// empty the entries its policy evicted, and how many of those it merged first.
const uint COUNTS = 4, ENTRIES = 0, FREE = 1, EVICTIONS = 2, MERGES = 3;

// One group of KV heads of one sequence in one dispatch (push::CacheEntry in
// runtime/push_constants.hpp, field for field).
struct CacheEntry {
    uint keys, values, acc, cnt, order_, free_slots, counts, probs, last, provenance;  // where its sections start, in elements
    uint capacity;
    uint first_head;  // the group's first KV head in the layer
    uint n_heads;     // KV heads in the group
    uint n_entries;   // entries with the new token appended (L)
    uint pos;         // the token's absolute position
    uint q_pos;       // where the query is rotated
    uint positions;   // PositionMode: 0 cache-index (keys stored before RoPE), 1 original
    uint q_first, k_first, v_first, out_first;  // where the token's q, k, v and attention output start
    uint step, sinks, recent, cam_n, seed;      // the policy's
    uint head_mean;   // 1: keep `last` (TOVA)
    uint tokens;        // consecutive tokens of the sequence this entry carries (a prompt chunk's; 1 when decoding)
    uint probs_stride;  // elements from one token's probs to the next's
};
layout(std430, binding = 10) readonly buffer Entries { CacheEntry entries[]; };
const uint KV_BINDINGS = 11;  // a shader's own buffers start here

CacheEntry cache;  // this workgroup's, from load_entry()
void load_entry(uint first) { cache = entries[first + gl_WorkGroupID.x]; }

// Where the row of (head, slot) of this workgroup's entry starts, and pair i of a row.
uint key_row(uint head, uint slot, uint head_dim) {
    return cache.keys + (head * cache.capacity + slot) * kv_row_words(KV_K, head_dim);
}
uint value_row(uint head, uint slot, uint head_dim) {
    return cache.values + (head * cache.capacity + slot) * kv_row_words(KV_V, head_dim);
}
vec2 key_pair(uint row, uint head_dim, uint i) {
    const uvec2 w = kv_pair_words(KV_K, head_dim, i);
    return kv_pair(KV_K, i, uvec2(keys[row + w.x], keys[row + w.y]));
}
vec2 value_pair(uint row, uint head_dim, uint i) {
    const uvec2 w = kv_pair_words(KV_V, head_dim, i);
    return kv_pair(KV_V, i, uvec2(values[row + w.x], values[row + w.y]));
}

// A row read pair after pair: a block type's scale word serves 32 pairs and a
// code word 2 (q8_0) or 4 (q4_0), so a reader loads each once (a load per lane
// is the cost that counts on a CPU driver); f32 and f16 words serve one pair.
struct RowReader {
    uint row;
    uvec2 at;  // the row's words held in `words`
    uvec2 words;
};
RowReader row_reader(uint row) { return RowReader(row, uvec2(0xffffffffu), uvec2(0)); }
vec2 next_key_pair(inout RowReader r, uint head_dim, uint i) {
    if (KV_K == KV_F32 || KV_K == KV_F16) return key_pair(r.row, head_dim, i);
    const uvec2 w = kv_pair_words(KV_K, head_dim, i);
    if (w.x != r.at.x) r.words.x = keys[r.row + w.x];
    if (w.y != r.at.y) r.words.y = keys[r.row + w.y];
    r.at = w;
    return kv_pair(KV_K, i, r.words);
}
// The same for values (a GLSL function cannot take a buffer as an argument).
vec2 next_value_pair(inout RowReader r, uint head_dim, uint i) {
    if (KV_V == KV_F32 || KV_V == KV_F16) return value_pair(r.row, head_dim, i);
    const uvec2 w = kv_pair_words(KV_V, head_dim, i);
    if (w.x != r.at.x) r.words.x = values[r.row + w.x];
    if (w.y != r.at.y) r.words.y = values[r.row + w.y];
    r.at = w;
    return kv_pair(KV_V, i, r.words);
}
