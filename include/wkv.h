/*
 * wkv.h: the C API of wkv, Llama-family inference on any Vulkan GPU (or the
 * CPU reference) whose KV cache stays a fixed size however long the text grows.
 *
 * Plain C99: opaque handles, status codes, and a message for the last error
 * of the calling thread. Link with -lwkv (pkg-config: wkv; CMake:
 * find_package(wkv) and wkv::wkv).
 *
 * The objects:
 *   wkv_model    the weights and the tokenizer, read-only once loaded: one
 *                model may serve several contexts, in several threads.
 *   wkv_context  an engine for a model, on a Vulkan device or the CPU, with one
 *                or more sequences, each with its own KV cache and policy.
 *                One thread at a time may use a context.
 *   wkv_sampler  greedy or seeded nucleus sampling.
 *
 * A sequence is a text fed token by token: wkv_prefill() appends tokens and
 * leaves the logits of the last one; wkv_sample() picks the next token from
 * them; feeding that token with wkv_prefill() again gives the next logits.
 * With a compressing policy the cache keeps `budget` entries per layer and KV
 * head, so a sequence may grow without bound.
 *
 * Every function that can fail returns a wkv_status; on failure it writes
 * nothing through its output pointers (except *n_needed for
 * WKV_ERROR_BUFFER_TOO_SMALL) and wkv_last_error() says why in one line.
 */
#ifndef WKV_H
#define WKV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WKV_API __attribute__((visibility("default")))
#else
#define WKV_API
#endif

#define WKV_VERSION_MAJOR 0
#define WKV_VERSION_MINOR 1
#define WKV_VERSION_PATCH 0

typedef enum wkv_status {
    WKV_OK = 0,
    WKV_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a setting out of range, a token outside the vocabulary */
    WKV_ERROR_BAD_FILE = 2,         /* a model or tokenizer file wkv cannot read or use */
    WKV_ERROR_DEVICE = 3,           /* no Vulkan device, a device error, or a run the device cannot hold */
    WKV_ERROR_OUT_OF_MEMORY = 4,
    WKV_ERROR_BUFFER_TOO_SMALL = 5, /* an output array was too small: *n_needed says how large it must be */
    WKV_ERROR_CACHE_FULL = 6,       /* a full cache (policy "full") has no room for the tokens */
    WKV_ERROR_INTERNAL = 7,         /* a defect in wkv: please report it */
    WKV_ERROR_NOT_FINITE = 8        /* the model computed NaN or infinity: its weights or the computation are broken */
} wkv_status;

/* "0.1.0": the library's version (its SONAME is libwkv.so.MAJOR). */
WKV_API const char* wkv_version(void);
/* The git commit it was built from ("unknown" outside a checkout) and the build type. */
WKV_API const char* wkv_commit(void);
WKV_API const char* wkv_build_type(void);
/* "WKV_OK", "WKV_ERROR_DEVICE", ... */
WKV_API const char* wkv_status_name(wkv_status status);
/* Why the calling thread's last failed call failed, in one line ("" if none has). */
WKV_API const char* wkv_last_error(void);

/* --- models ------------------------------------------------------------- */

typedef struct wkv_model wkv_model;

/* Loads a GGUF or llama2.c model. `tokenizer_path` (a sentencepiece .model or
 * llama2.c tokenizer.bin) may be NULL for a GGUF that embeds its vocabulary. */
WKV_API wkv_status wkv_model_load(const char* model_path, const char* tokenizer_path, wkv_model** model);
WKV_API void wkv_model_free(wkv_model* model); /* NULL is fine */

typedef struct wkv_model_info {
    uint32_t vocab_size;
    uint32_t context_length; /* the context the model was trained for */
    uint32_t n_layers, n_heads, n_kv_heads, dim, head_dim;
    int32_t bos, eos;      /* token ids; -1 where the vocabulary has none */
    uint64_t weight_bytes; /* as stored in the file */
} wkv_model_info;
WKV_API wkv_status wkv_model_get_info(const wkv_model* model, wkv_model_info* info);

/* --- text and tokens ---------------------------------------------------- */

/* `text` (text_len bytes; UTF-8) as tokens. With `as_prompt`, BOS (and EOS)
 * are added where the model's tokenizer asks for them. Writes at most
 * `capacity` ids; *n_tokens is the count, or on WKV_ERROR_BUFFER_TOO_SMALL the
 * capacity needed. */
WKV_API wkv_status wkv_tokenize(const wkv_model* model, const char* text, size_t text_len, int as_prompt,
                                int32_t* tokens, size_t capacity, size_t* n_tokens);
/* The bytes token `token` adds to a text after token `prev` (pass the
 * previous token of the text, or BOS for the first): control tokens add
 * nothing, and the piece after BOS loses its leading space. Not
 * NUL-terminated; *n_bytes as for wkv_tokenize. */
WKV_API wkv_status wkv_token_to_piece(const wkv_model* model, int32_t prev, int32_t token, char* bytes, size_t capacity,
                                      size_t* n_bytes);
/* The text of `tokens`, as if they followed BOS. Not NUL-terminated. */
WKV_API wkv_status wkv_detokenize(const wkv_model* model, const int32_t* tokens, size_t n_tokens, char* bytes,
                                  size_t capacity, size_t* n_bytes);
/* Whether `token` ends a reply: EOS or one of the vocabulary's ends of turn. */
WKV_API int wkv_token_is_end(const wkv_model* model, int32_t token);

typedef struct wkv_chat_message {
    const char* role; /* "system", "user" or "assistant" */
    const char* content;
} wkv_chat_message;
/* A conversation as the prompt of its next reply: the messages in the chat
 * template `template_name` ("llama2", "chatml", "llama3", "zephyr",
 * "mistral"), or with NULL the one the model's file names, then the header
 * the assistant's reply follows. Output as for wkv_tokenize. */
WKV_API wkv_status wkv_chat_apply_template(const wkv_model* model, const char* template_name,
                                           const wkv_chat_message* messages, size_t n_messages, int32_t* tokens,
                                           size_t capacity, size_t* n_tokens);

/* --- the KV cache and the context --------------------------------------- */

/* How cached keys or values are stored: llama.cpp's cache types (q8_0 and
 * q4_0 are its blocks of 32 values with an f16 scale). */
typedef enum wkv_kv_type { WKV_KV_F32 = 0, WKV_KV_F16 = 1, WKV_KV_Q8_0 = 2, WKV_KV_Q4_0 = 3 } wkv_kv_type;

typedef struct wkv_cache_params {
    /* "full" (no eviction), "streaming", "h2o", "tova", "cam", "evict" or "weightedkv" */
    const char* policy;
    uint32_t budget;  /* entries kept per layer and KV head; 0: full's default, the model's context (at most 4096) */
    int32_t sinks;    /* first entries never dropped; -1: the policy's default */
    int32_t recent;   /* newest entries never dropped; -1: the policy's default */
    int32_t cam_n;    /* cam: how many following values share an evicted one; -1: 16 */
    int64_t cam_seed; /* cam: seed of its merge decisions; -1: 0 */
    int original_positions; /* 0: RoPE at the index in the cache (default); 1: at the original position */
    int type_k;             /* a wkv_kv_type: how keys are stored (default WKV_KV_F16) */
    int type_v;             /* a wkv_kv_type: how values are stored (default WKV_KV_F16) */
} wkv_cache_params;
/* The defaults: the full cache of the model's context, f16. */
WKV_API wkv_cache_params wkv_cache_params_default(void);

typedef struct wkv_context_params {
    int cpu;                        /* 1: the CPU reference instead of Vulkan */
    int32_t device;                 /* Vulkan device index; -1: the first discrete GPU, else any */
    uint32_t n_sequences;           /* at least 1 */
    const wkv_cache_params* caches; /* n_sequences settings, one per sequence; NULL: the defaults for all */
} wkv_context_params;
WKV_API wkv_context_params wkv_context_params_default(void);

/* What a context would need on its device, worked out before anything is
 * allocated or uploaded (wkv_context_create refuses a plan that does not fit). */
typedef struct wkv_memory_plan {
    uint64_t weight_bytes, kv_cache_bytes, activation_bytes, total_bytes;
    uint64_t device_free_bytes; /* what the device has free; on the CPU, the host's available memory (0: unknown) */
    int fits;
    char device_name[256];
    char why_not[1024]; /* when it does not fit: why, and what would fit; else "" */
} wkv_memory_plan;
WKV_API wkv_status wkv_plan_memory(const wkv_model* model, const wkv_context_params* params, wkv_memory_plan* plan);

typedef struct wkv_context wkv_context;

/* An engine for `model` (which must outlive it), its weights uploaded. */
WKV_API wkv_status wkv_context_create(const wkv_model* model, const wkv_context_params* params, wkv_context** context);
WKV_API void wkv_context_free(wkv_context* context); /* NULL is fine */
/* The device it runs on ("CPU reference" on the CPU). */
WKV_API const char* wkv_context_device_name(const wkv_context* context);

/* --- running ------------------------------------------------------------ */

/* Appends n_tokens tokens to sequence `seq` and computes the logits of the
 * last. Every token is checked before the first goes in. */
WKV_API wkv_status wkv_prefill(wkv_context* context, uint32_t seq, const int32_t* tokens, size_t n_tokens);
/* The logits after the last wkv_prefill of `seq`: vocab_size floats. */
WKV_API wkv_status wkv_get_logits(const wkv_context* context, uint32_t seq, float* logits, size_t capacity);
/* Tokens fed to `seq` so far: the next token's position. */
WKV_API wkv_status wkv_sequence_length(const wkv_context* context, uint32_t seq, uint32_t* length);
/* Empties the sequence's cache (its memory stays allocated). */
WKV_API wkv_status wkv_sequence_reset(wkv_context* context, uint32_t seq);

typedef struct wkv_sampler wkv_sampler;
/* temperature 0: greedy (the first largest logit); else nucleus sampling with
 * top_p in (0, 1] from a generator seeded with `seed` (a seed repeats a run). */
WKV_API wkv_status wkv_sampler_create(float temperature, float top_p, uint64_t seed, wkv_sampler** sampler);
WKV_API void wkv_sampler_free(wkv_sampler* sampler); /* NULL is fine */
/* The next token of `seq`, from its logits (WKV_ERROR_NOT_FINITE where one is NaN or +inf). */
WKV_API wkv_status wkv_sample(wkv_context* context, uint32_t seq, wkv_sampler* sampler, int32_t* token);

/* Return nonzero to go on, 0 to stop the generation. */
typedef int (*wkv_text_callback)(const char* bytes, size_t n_bytes, void* user_data);
/* The loop `wkv generate` runs: empties `seq`, feeds `prompt`, then samples up
 * to max_tokens tokens, handing their text to on_text in whole UTF-8
 * characters, and stops early at the end of a reply (unless ignore_end). The
 * tokens generated go to *n_generated (may be NULL). Afterwards the sequence
 * holds the prompt and the reply but its last token, which was never fed:
 * reset it (or call wkv_generate again) to start another text. Every prompt
 * token is checked before any is fed; on a failure later (the device,
 * WKV_ERROR_NOT_FINITE) the sequence is left empty. */
WKV_API wkv_status wkv_generate(wkv_context* context, uint32_t seq, const int32_t* prompt, size_t n_prompt,
                                uint32_t max_tokens, float temperature, float top_p, uint64_t seed, int ignore_end,
                                wkv_text_callback on_text, void* user_data, uint32_t* n_generated);

/* --- the cache, now ----------------------------------------------------- */

typedef struct wkv_cache_stats {
    uint32_t entries;           /* held per layer and KV head */
    uint32_t budget;            /* the most it holds */
    uint64_t bytes_in_use;      /* entries x bytes an entry (keys and values of every layer) */
    uint64_t bytes_allocated;   /* every sequence's cache and its bookkeeping, fixed at creation */
    uint64_t evictions, merges; /* over every layer and KV head since the sequence was last empty */
} wkv_cache_stats;
WKV_API wkv_status wkv_cache_get_stats(const wkv_context* context, uint32_t seq, wkv_cache_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* WKV_H */
