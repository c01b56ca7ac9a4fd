// One layer's KV cache (runtime/kv_cache_ring.hpp): its sections are bound at
// the same numbers in every shader that touches the cache, in KvLayer order,
// so no two shaders disagree on where a section is. A shader's own buffers
// start at binding KV_BINDINGS. Mirrors KvCache (model/kv_cache.hpp) slot
// for slot.
//
// Keys and values are stored as pairs of adjacent dimensions, the unit RoPE
// rotates. A pair is a vec2 of f32, or, built with KV_F16, one 32-bit word of
// two f16 (packHalf2x16 rounds to nearest), which halves the cache and needs no
// 16-bit storage feature. Either way pair i of (head, slot) is element
// (head * capacity + slot) * head_dim / 2 + i from the section's start.
#ifndef KV_F16
#define KV_F16 0  // shaders that never read keys or values build once
#endif
#if KV_F16
#define KV_PAIR uint
#define KV_UNPACK(word) unpackHalf2x16(word)
#define KV_PACK(pair) packHalf2x16(pair)
#else
#define KV_PAIR vec2
#define KV_UNPACK(word) (word)
#define KV_PACK(pair) (pair)
#endif

// Every sequence of a batch, and every group of a split layer, has its
// sections at its own place in these buffers (runtime/kv_cache_ring.hpp packs
// them), so one dispatch serves them all: workgroup column x works on the
// entries[] element `first + x`, which says where its sections start and what
// the step does to it. Indices below count from those starts.
layout(std430, binding = 0) buffer Keys { KV_PAIR keys[]; };        // [kv_head][slot][head_dim / 2]
layout(std430, binding = 1) buffer Values { KV_PAIR values[]; };    // [kv_head][slot][head_dim / 2]
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
