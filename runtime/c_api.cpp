// The C API (include/wkv.h) over the engine the CLI runs: the same loaders,
// engine factory, memory plan, Generator and sampler, so a program linking
// libwkv and `wkv generate` produce the same tokens. Each entry point checks
// its arguments, runs inside guarded() (no exception crosses into C) and
// reports a failure through its status and wkv_last_error().
#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "build_info.hpp"
#include "chat_template.hpp"
#include "engine_factory.hpp"
#include "error.hpp"
#include "generation.hpp"
#include "kv_cache.hpp"
#include "memory_plan.hpp"
#include "model.hpp"
#include "policy.hpp"
#include "sampler.hpp"
#include "tokenizer.hpp"
#include "wkv.h"

static_assert(WKV_VERSION_MAJOR == WKV_PROJECT_VERSION_MAJOR && WKV_VERSION_MINOR == WKV_PROJECT_VERSION_MINOR &&
                  WKV_VERSION_PATCH == WKV_PROJECT_VERSION_PATCH,
              "include/wkv.h's version differs from the project's (CMakeLists.txt)");

struct wkv_model {
    wkv::Model model;
    wkv::Tokenizer tokenizer;
};

struct wkv_context {
    const wkv_model* model = nullptr;
    std::vector<wkv::CacheSettings> settings;  // one per sequence
    wkv::OpenEngine engine;
    std::string device_name;
    std::vector<uint32_t> length;            // per sequence: tokens fed
    std::vector<std::vector<float>> logits;  // per sequence: after its last prefill ({} if none)
};

struct wkv_sampler {
    wkv::Sampler sampler;
};

namespace {

thread_local std::string last_error;

// A failure with the status the caller should see.
struct ApiError {
    wkv_status status;
    std::string message;
};

[[noreturn]] void refuse(wkv_status status, std::string message) { throw ApiError{status, std::move(message)}; }

template <class T>
void require(const T* pointer, const char* function, const char* name) {
    if (!pointer) refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(function) + ": " + name + " is NULL");
}

// Runs `body`, turning whatever it throws into a status and a message. A wkv::Error
// that is the user's (ExitCode::bad_input) becomes `bad_input`: a bad file where
// files are read, an invalid argument elsewhere.
template <class F>
wkv_status guarded(wkv_status bad_input, F&& body) {
    try {
        body();
        return WKV_OK;
    } catch (const ApiError& e) {
        last_error = e.message;
        return e.status;
    } catch (const wkv::Error& e) {
        last_error = wkv::one_line(e.what());
        switch (e.code()) {
            case wkv::ExitCode::device: return WKV_ERROR_DEVICE;
            case wkv::ExitCode::model: return WKV_ERROR_NOT_FINITE;
            default: return bad_input;
        }
    } catch (const std::bad_alloc&) {
        last_error = "out of memory";
        return WKV_ERROR_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        last_error = std::string("internal error: ") + e.what();
        return WKV_ERROR_INTERNAL;
    } catch (...) {
        last_error = "internal error: an unknown exception";
        return WKV_ERROR_INTERNAL;
    }
}

// Copies `items` to out[0..capacity); *count is how many there are, so a caller
// with too small an array learns the size it needs.
template <class T>
void copy_out(const std::vector<T>& items, T* out, size_t capacity, size_t* count, const char* function) {
    require(count, function, "the count pointer");
    *count = items.size();
    if (items.size() > capacity) {
        refuse(WKV_ERROR_BUFFER_TOO_SMALL, std::string(function) + ": " + std::to_string(items.size()) +
                                               " items do not fit in " + std::to_string(capacity));
    }
    if (!items.empty()) {
        require(out, function, "the output array");
        std::memcpy(out, items.data(), items.size() * sizeof(T));
    }
}

void check_sequence(const wkv_context* ctx, uint32_t seq, const char* function) {
    require(ctx, function, "context");
    if (seq >= ctx->length.size()) {
        refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(function) + ": sequence " + std::to_string(seq) +
                                               " does not exist (the context has " +
                                               std::to_string(ctx->length.size()) + ")");
    }
}

std::vector<int32_t> token_array(const int32_t* tokens, size_t n, const char* function) {
    if (n) require(tokens, function, "tokens");
    return n ? std::vector<int32_t>(tokens, tokens + n) : std::vector<int32_t>{};
}

wkv::CacheSettings cache_settings(const wkv_cache_params& p, const wkv::ModelConfig& config) {
    const char* name = p.policy ? p.policy : "full";
    const auto kind = wkv::parse_policy_name(name);
    if (!kind) {
        refuse(WKV_ERROR_INVALID_ARGUMENT, "policy " + wkv::quoted(name) + " is not one of " + wkv::policy_names());
    }
    auto optional_setting = [](int64_t value, int64_t most, const char* what) -> std::optional<uint32_t> {
        if (value == -1) return std::nullopt;
        if (value < 0 || value > most) {
            refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(what) + " " + std::to_string(value) + " is outside [0, " +
                                                   std::to_string(most) + "] (-1: the default)");
        }
        return static_cast<uint32_t>(value);
    };
    wkv::PolicyRequest r;
    r.kind = *kind;
    if (p.budget) r.budget = p.budget;
    r.sinks = optional_setting(p.sinks, 1 << 20, "sinks");
    r.recent = optional_setting(p.recent, 1 << 20, "recent");
    r.cam_n = optional_setting(p.cam_n, 4096, "cam_n");
    r.seed = optional_setting(p.cam_seed, std::numeric_limits<uint32_t>::max(), "cam_seed");
    if (r.cam_n == 0u) refuse(WKV_ERROR_INVALID_ARGUMENT, "cam_n must be at least 1");
    wkv::CacheSettings s;
    s.policy = wkv::resolve_policy(r, config.context);
    s.positions = p.original_positions ? wkv::PositionMode::original : wkv::PositionMode::cache_index;
    auto kv_type = [](int type, const char* what) {
        if (type < WKV_KV_F32 || type > WKV_KV_Q4_0) {
            refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(what) + " " + std::to_string(type) +
                                                   " is not a wkv_kv_type (0 f32, 1 f16, 2 q8_0, 3 q4_0)");
        }
        return static_cast<wkv::KvType>(type);  // the same order
    };
    s.kv_type = {kv_type(p.type_k, "type_k"), kv_type(p.type_v, "type_v")};
    return s;
}

std::vector<wkv::CacheSettings> sequence_settings(const wkv_model* model, const wkv_context_params* params,
                                                  const char* function) {
    require(model, function, "model");
    require(params, function, "params");
    if (params->n_sequences == 0 || params->n_sequences > 4096) {
        refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(function) + ": n_sequences " +
                                               std::to_string(params->n_sequences) + " is outside [1, 4096]");
    }
    if (params->device < -1) {
        refuse(WKV_ERROR_INVALID_ARGUMENT,
               std::string(function) + ": device " + std::to_string(params->device) + " is not an index or -1");
    }
    std::vector<wkv::CacheSettings> out;
    for (uint32_t i = 0; i < params->n_sequences; i++) {
        const wkv_cache_params p = params->caches ? params->caches[i] : wkv_cache_params_default();
        out.push_back(cache_settings(p, model->model.config));
    }
    return out;
}

wkv::ContextOptions device_options(const wkv_context_params& params) {
    wkv::ContextOptions options;
    if (params.device >= 0) options.device_index = static_cast<uint32_t>(params.device);
    return options;
}

void copy_text(char* out, size_t capacity, const std::string& text) {
    const size_t n = std::min(text.size(), capacity - 1);
    std::memcpy(out, text.data(), n);
    out[n] = '\0';
}

// Feeds tokens to one sequence and keeps the last one's logits.
void prefill(wkv_context* ctx, uint32_t seq, const std::vector<int32_t>& tokens) {
    const wkv::CacheSettings& s = ctx->settings[seq];
    const uint32_t entries = ctx->engine.engine->entries(seq);
    if (!s.policy.compresses() && entries + tokens.size() > s.policy.budget) {
        refuse(WKV_ERROR_CACHE_FULL, "wkv_prefill: " + std::to_string(tokens.size()) + " tokens do not fit: the full " +
                                         "cache of sequence " + std::to_string(seq) + " holds " +
                                         std::to_string(entries) + " of " + std::to_string(s.policy.budget) +
                                         " entries (a compressing policy has no such limit)");
    }
    ctx->logits[seq].clear();
    ctx->engine.engine->prefill(seq, tokens, ctx->length[seq], /*logits=*/true);
    ctx->length[seq] += static_cast<uint32_t>(tokens.size());
    ctx->logits[seq] = ctx->engine.engine->logits(seq);
}

const std::vector<float>& logits_of(const wkv_context* ctx, uint32_t seq, const char* function) {
    check_sequence(ctx, seq, function);
    if (ctx->logits[seq].empty()) {
        refuse(WKV_ERROR_INVALID_ARGUMENT,
               std::string(function) + ": sequence " + std::to_string(seq) + " has no logits: call wkv_prefill first");
    }
    return ctx->logits[seq];
}

}  // namespace

extern "C" {

const char* wkv_version(void) { return WKV_BUILD_VERSION; }
const char* wkv_commit(void) { return WKV_BUILD_COMMIT; }
const char* wkv_build_type(void) { return WKV_BUILD_TYPE; }
const char* wkv_last_error(void) { return last_error.c_str(); }

const char* wkv_status_name(wkv_status status) {
    switch (status) {
        case WKV_OK: return "WKV_OK";
        case WKV_ERROR_INVALID_ARGUMENT: return "WKV_ERROR_INVALID_ARGUMENT";
        case WKV_ERROR_BAD_FILE: return "WKV_ERROR_BAD_FILE";
        case WKV_ERROR_DEVICE: return "WKV_ERROR_DEVICE";
        case WKV_ERROR_OUT_OF_MEMORY: return "WKV_ERROR_OUT_OF_MEMORY";
        case WKV_ERROR_BUFFER_TOO_SMALL: return "WKV_ERROR_BUFFER_TOO_SMALL";
        case WKV_ERROR_CACHE_FULL: return "WKV_ERROR_CACHE_FULL";
        case WKV_ERROR_INTERNAL: return "WKV_ERROR_INTERNAL";
        case WKV_ERROR_NOT_FINITE: return "WKV_ERROR_NOT_FINITE";
    }
    return "WKV_UNKNOWN_STATUS";
}

wkv_status wkv_model_load(const char* model_path, const char* tokenizer_path, wkv_model** out) {
    return guarded(WKV_ERROR_BAD_FILE, [&] {
        require(model_path, "wkv_model_load", "model_path");
        require(out, "wkv_model_load", "the output pointer");
        wkv::Model model = wkv::load_model(model_path);
        wkv::Tokenizer tokenizer = wkv::tokenizer_for(model, tokenizer_path ? tokenizer_path : "");
        *out = new wkv_model{std::move(model), std::move(tokenizer)};
    });
}

void wkv_model_free(wkv_model* model) { delete model; }

wkv_status wkv_model_get_info(const wkv_model* model, wkv_model_info* info) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        require(model, "wkv_model_get_info", "model");
        require(info, "wkv_model_get_info", "info");
        const wkv::ModelConfig& c = model->model.config;
        const wkv::Vocabulary& v = model->tokenizer.vocabulary();
        *info = wkv_model_info{c.vocab_size, c.context,    c.n_layers, c.n_heads, c.n_kv_heads,
                               c.dim,        c.head_dim(), v.bos_id,   v.eos_id,  model->model.weight_bytes()};
    });
}

wkv_status wkv_tokenize(const wkv_model* model, const char* text, size_t text_len, int as_prompt, int32_t* tokens,
                        size_t capacity, size_t* n_tokens) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        require(model, "wkv_tokenize", "model");
        if (text_len) require(text, "wkv_tokenize", "text");
        const std::string_view t(text ? text : "", text_len);
        const std::vector<int32_t> ids =
            as_prompt ? model->tokenizer.encode_prompt(t) : model->tokenizer.encode(t, /*add_bos=*/false);
        copy_out(ids, tokens, capacity, n_tokens, "wkv_tokenize");
    });
}

wkv_status wkv_token_to_piece(const wkv_model* model, int32_t prev, int32_t token, char* bytes, size_t capacity,
                              size_t* n_bytes) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        require(model, "wkv_token_to_piece", "model");
        const int32_t vocab = model->tokenizer.vocab_size();
        for (int32_t id : {prev, token}) {
            if (id < 0 || id >= vocab) {
                refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_token_to_piece: token " + std::to_string(id) +
                                                       " is outside the vocabulary of " + std::to_string(vocab));
            }
        }
        const std::string piece = model->tokenizer.decode_piece(prev, token);
        copy_out(std::vector<char>(piece.begin(), piece.end()), bytes, capacity, n_bytes, "wkv_token_to_piece");
    });
}

wkv_status wkv_detokenize(const wkv_model* model, const int32_t* tokens, size_t n_tokens, char* bytes, size_t capacity,
                          size_t* n_bytes) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        require(model, "wkv_detokenize", "model");
        const std::vector<int32_t> ids = token_array(tokens, n_tokens, "wkv_detokenize");
        for (int32_t id : ids) {
            if (id < 0 || id >= model->tokenizer.vocab_size()) {
                refuse(WKV_ERROR_INVALID_ARGUMENT,
                       "wkv_detokenize: token " + std::to_string(id) + " is outside the vocabulary");
            }
        }
        const std::string text = model->tokenizer.decode(ids);
        copy_out(std::vector<char>(text.begin(), text.end()), bytes, capacity, n_bytes, "wkv_detokenize");
    });
}

int wkv_token_is_end(const wkv_model* model, int32_t token) {
    if (!model) return 0;
    const auto& ends = model->tokenizer.end_of_generation();
    return token == model->tokenizer.eos_id() || std::find(ends.begin(), ends.end(), token) != ends.end();
}

wkv_status wkv_chat_apply_template(const wkv_model* model, const char* template_name, const wkv_chat_message* messages,
                                   size_t n_messages, int32_t* tokens, size_t capacity, size_t* n_tokens) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        const char* function = "wkv_chat_apply_template";
        require(model, function, "model");
        if (n_messages) require(messages, function, "messages");
        std::vector<wkv::ChatMessage> conversation;
        for (size_t i = 0; i < n_messages; i++) {
            require(messages[i].role, function, "a message's role");
            require(messages[i].content, function, "a message's content");
            conversation.push_back({messages[i].role, messages[i].content});
        }
        wkv::ChatFamily family;
        if (template_name) {
            const auto named = wkv::parse_chat_family(template_name);
            if (!named) {
                refuse(WKV_ERROR_INVALID_ARGUMENT, std::string(function) + ": template " + wkv::quoted(template_name) +
                                                       " is not one of " + wkv::chat_family_names());
            }
            family = *named;
        } else {
            family = wkv::model_chat_family(model->model, "template_name");
        }
        const wkv::ChatTemplate chat(family, model->tokenizer);
        copy_out(chat.render(conversation), tokens, capacity, n_tokens, function);
    });
}

wkv_cache_params wkv_cache_params_default(void) {
    wkv_cache_params p;
    p.policy = "full";
    p.budget = 0;
    p.sinks = -1;
    p.recent = -1;
    p.cam_n = -1;
    p.cam_seed = -1;
    p.original_positions = 0;
    p.type_k = WKV_KV_F16;
    p.type_v = WKV_KV_F16;
    return p;
}

wkv_context_params wkv_context_params_default(void) {
    wkv_context_params p;
    p.cpu = 0;
    p.device = -1;
    p.n_sequences = 1;
    p.caches = nullptr;
    return p;
}

wkv_status wkv_plan_memory(const wkv_model* model, const wkv_context_params* params, wkv_memory_plan* out) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        const std::vector<wkv::CacheSettings> settings = sequence_settings(model, params, "wkv_plan_memory");
        require(out, "wkv_plan_memory", "plan");
        wkv_memory_plan result{};
        if (params->cpu) {
            // The CPU reference needs no device: the parts are what it holds in RAM
            // besides its weights (the mapped file) and a few vectors of activations.
            uint64_t kv = 0;
            for (const wkv::CacheSettings& c : settings)
                kv += wkv::KvCache::bytes_for(model->model.config, c.layer_slots(model->model.config));
            const uint64_t weights = model->model.weight_bytes(), available = wkv::host_memory_available();
            const bool fits = available == 0 || weights + kv <= available;  // 0: unknown, so nothing to refuse on
            result = {weights, kv, 0, weights + kv, available, fits, {}, {}};
            copy_text(result.device_name, sizeof result.device_name, "CPU reference");
            if (!fits) {
                copy_text(result.why_not, sizeof result.why_not,
                          "the weights (" + wkv::format_bytes(weights) + ") and the KV cache (" +
                              wkv::format_bytes(kv) + ") need more than the host's " + wkv::format_bytes(available) +
                              " of available memory");
            }
        } else {
            const wkv::DeviceInfo device = wkv::describe_chosen_device(device_options(*params));
            const wkv::MemoryPlan plan = wkv::plan_for_device(model->model, settings, device);
            const std::string why = wkv::why_it_does_not_fit(plan, device);
            result = {plan.weights,
                      plan.kv_cache,
                      plan.activations,
                      plan.total(),
                      device.device_local_free,
                      why.empty(),
                      {},
                      {}};
            copy_text(result.device_name, sizeof result.device_name, device.name);
            copy_text(result.why_not, sizeof result.why_not, why);
        }
        *out = result;
    });
}

wkv_status wkv_context_create(const wkv_model* model, const wkv_context_params* params, wkv_context** out) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        std::vector<wkv::CacheSettings> settings = sequence_settings(model, params, "wkv_context_create");
        require(out, "wkv_context_create", "the output pointer");
        auto ctx = std::make_unique<wkv_context>();
        ctx->model = model;
        ctx->settings = settings;
        wkv::EngineChoice choice;
        choice.cpu = params->cpu != 0;
        choice.device = device_options(*params);
        ctx->engine = wkv::open_engine(model->model, std::move(settings), choice);
        ctx->device_name = ctx->engine.engine->device_name();
        ctx->length.assign(params->n_sequences, 0);
        ctx->logits.resize(params->n_sequences);
        *out = ctx.release();
    });
}

void wkv_context_free(wkv_context* context) { delete context; }

const char* wkv_context_device_name(const wkv_context* context) { return context ? context->device_name.c_str() : ""; }

wkv_status wkv_prefill(wkv_context* context, uint32_t seq, const int32_t* tokens, size_t n_tokens) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        check_sequence(context, seq, "wkv_prefill");
        if (n_tokens == 0) refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_prefill: no tokens");
        prefill(context, seq, token_array(tokens, n_tokens, "wkv_prefill"));
    });
}

wkv_status wkv_get_logits(const wkv_context* context, uint32_t seq, float* logits, size_t capacity) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        const std::vector<float>& l = logits_of(context, seq, "wkv_get_logits");
        size_t count = 0;
        copy_out(l, logits, capacity, &count, "wkv_get_logits");
    });
}

wkv_status wkv_sequence_length(const wkv_context* context, uint32_t seq, uint32_t* length) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        check_sequence(context, seq, "wkv_sequence_length");
        require(length, "wkv_sequence_length", "length");
        *length = context->length[seq];
    });
}

wkv_status wkv_sequence_reset(wkv_context* context, uint32_t seq) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        check_sequence(context, seq, "wkv_sequence_reset");
        context->engine.engine->reset(seq);
        context->length[seq] = 0;
        context->logits[seq].clear();
    });
}

wkv_status wkv_sampler_create(float temperature, float top_p, uint64_t seed, wkv_sampler** out) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        require(out, "wkv_sampler_create", "the output pointer");
        // The ranges of `wkv generate --temp` and `--top-p`; the negated tests also refuse NaN.
        if (!(temperature >= 0.0f && temperature <= 100.0f))
            refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_sampler_create: temperature is outside [0, 100]");
        if (!(top_p > 0.0f && top_p <= 1.0f))
            refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_sampler_create: top_p is outside (0, 1]");
        *out = new wkv_sampler{wkv::Sampler(wkv::SamplerSettings{temperature, top_p, seed})};
    });
}

void wkv_sampler_free(wkv_sampler* sampler) { delete sampler; }

wkv_status wkv_sample(wkv_context* context, uint32_t seq, wkv_sampler* sampler, int32_t* token) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        const std::vector<float>& logits = logits_of(context, seq, "wkv_sample");
        require(sampler, "wkv_sample", "sampler");
        require(token, "wkv_sample", "token");
        *token = sampler->sampler.sample(logits);
        if (*token < 0) throw wkv::broken_logits_error(context->length[seq] - 1);
    });
}

wkv_status wkv_generate(wkv_context* context, uint32_t seq, const int32_t* prompt, size_t n_prompt, uint32_t max_tokens,
                        float temperature, float top_p, uint64_t seed, int ignore_end, wkv_text_callback on_text,
                        void* user_data, uint32_t* n_generated) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        check_sequence(context, seq, "wkv_generate");
        const std::vector<int32_t> tokens = token_array(prompt, n_prompt, "wkv_generate");
        if (tokens.empty()) refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_generate: the prompt is empty");
        if (!(temperature >= 0.0f && temperature <= 100.0f) || !(top_p > 0.0f && top_p <= 1.0f))
            refuse(WKV_ERROR_INVALID_ARGUMENT, "wkv_generate: temperature or top_p is out of range");
        const wkv::CacheSettings& s = context->settings[seq];
        if (!s.policy.compresses() && tokens.size() + max_tokens > s.policy.budget) {
            refuse(WKV_ERROR_CACHE_FULL, "wkv_generate: the prompt's " + std::to_string(tokens.size()) +
                                             " tokens and " + std::to_string(max_tokens) +
                                             " more exceed the full cache of " + std::to_string(s.policy.budget) +
                                             " entries");
        }
        // Every token is checked before the sequence is touched: a bad one anywhere leaves it as it was.
        wkv::check_prefill(context->model->model.config, s, 0, tokens, 0);
        wkv::Engine& engine = *context->engine.engine;
        engine.reset(seq);
        context->length[seq] = 0;
        context->logits[seq].clear();
        wkv::Generator generator(engine, context->model->tokenizer, wkv::SamplerSettings{temperature, top_p, seed}, {},
                                 seq);
        if (ignore_end) generator.ignore_end_of_text();
        try {
            generator.append(tokens);
            generator.generate(max_tokens, [&](std::string_view piece) {
                return !on_text || on_text(piece.data(), piece.size(), user_data) != 0;
            });
        } catch (...) {
            // A failure part-way (the device, non-finite logits) leaves a sequence nobody can continue: empty it.
            engine.reset(seq);
            throw;
        }
        context->length[seq] = generator.fed();
        if (n_generated) *n_generated = static_cast<uint32_t>(generator.stats().tokens);
    });
}

wkv_status wkv_cache_get_stats(const wkv_context* context, uint32_t seq, wkv_cache_stats* stats) {
    return guarded(WKV_ERROR_INVALID_ARGUMENT, [&] {
        check_sequence(context, seq, "wkv_cache_get_stats");
        require(stats, "wkv_cache_get_stats", "stats");
        const wkv::Engine& engine = *context->engine.engine;
        const wkv::CacheSettings& s = context->settings[seq];
        const uint32_t entries = engine.entries(seq);
        const wkv::EvictionCounts counts = engine.eviction_counts(seq);
        *stats = wkv_cache_stats{entries,          s.policy.budget, engine.kv_bytes_held(seq), engine.kv_cache_bytes(),
                                 counts.evictions, counts.merges};
    });
}

}  // extern "C"
