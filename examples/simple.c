/*
 * simple.c: text from a prompt through libwkv's C API, token by token.
 *
 *   simple -m MODEL [-t TOKENIZER] [-p PROMPT] [-n TOKENS] [--policy NAME --budget M] [--cpu]
 *
 * Greedy: the same tokens as `wkv generate --temp 0`. The text goes to stdout
 * and nothing else does; errors go to stderr with exit code 1.
 *
 * Build against an installed wkv with CMake (examples/CMakeLists.txt) or with
 *   cc simple.c $(pkg-config --cflags --libs wkv) -o simple
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wkv.h>

static int failed(const char* what, wkv_status status) {
    fprintf(stderr, "simple: %s: %s (%s)\n", what, wkv_last_error(), wkv_status_name(status));
    return 1;
}

int main(int argc, char** argv) {
    const char *model_path = NULL, *tokenizer_path = NULL, *prompt = "";
    long n_predict = 256;
    wkv_context_params params = wkv_context_params_default();
    wkv_cache_params cache = wkv_cache_params_default();
    for (int i = 1; i < argc; i++) {
        const int has_value = i + 1 < argc;
        if (!strcmp(argv[i], "-m") && has_value) {
            model_path = argv[++i];
        } else if (!strcmp(argv[i], "-t") && has_value) {
            tokenizer_path = argv[++i];
        } else if (!strcmp(argv[i], "-p") && has_value) {
            prompt = argv[++i];
        } else if (!strcmp(argv[i], "-n") && has_value) {
            n_predict = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--policy") && has_value) {
            cache.policy = argv[++i];
        } else if (!strcmp(argv[i], "--budget") && has_value) {
            cache.budget = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--cpu")) {
            params.cpu = 1;
        } else {
            fprintf(stderr, "usage: %s -m MODEL [-t TOKENIZER] [-p PROMPT] [-n N] [--policy NAME --budget M] [--cpu]\n",
                    argv[0]);
            return 1;
        }
    }
    if (!model_path || n_predict < 0) {
        fprintf(stderr, "simple: give a model with -m, and -n at least 0\n");
        return 1;
    }

    wkv_model* model = NULL;
    wkv_status s = wkv_model_load(model_path, tokenizer_path, &model);
    if (s != WKV_OK) return failed("loading the model", s);
    wkv_model_info info;
    wkv_model_get_info(model, &info);

    params.caches = &cache;
    wkv_memory_plan plan;
    s = wkv_plan_memory(model, &params, &plan);
    if (s != WKV_OK) return failed("planning the memory", s);
    if (!plan.fits) {
        fprintf(stderr, "simple: the run does not fit %s: %s\n", plan.device_name, plan.why_not);
        return 1;
    }
    wkv_context* ctx = NULL;
    s = wkv_context_create(model, &params, &ctx);
    if (s != WKV_OK) return failed("creating the context", s);

    /* The prompt: BOS where the model asks for it, then the text. */
    size_t n_tokens = 0;
    wkv_tokenize(model, prompt, strlen(prompt), 1, NULL, 0, &n_tokens); /* the size it needs */
    int32_t* tokens = malloc((n_tokens ? n_tokens : 1) * sizeof *tokens);
    s = wkv_tokenize(model, prompt, strlen(prompt), 1, tokens, n_tokens, &n_tokens);
    if (s != WKV_OK) return failed("tokenizing the prompt", s);
    if (n_tokens == 0) {
        fprintf(stderr, "simple: the prompt is empty and the model adds no BOS: give one with -p\n");
        return 1;
    }

    wkv_sampler* sampler = NULL;
    wkv_sampler_create(0.0f, 1.0f, 0, &sampler); /* greedy */
    int32_t prev = tokens[n_tokens - 1];
    s = wkv_prefill(ctx, 0, tokens, n_tokens);
    for (long i = 0; s == WKV_OK && i < n_predict; i++) {
        int32_t next = 0;
        s = wkv_sample(ctx, 0, sampler, &next);
        if (s != WKV_OK || wkv_token_is_end(model, next) || next == info.bos) break;
        char piece[256];
        size_t n_bytes = 0;
        s = wkv_token_to_piece(model, prev, next, piece, sizeof piece, &n_bytes);
        if (s != WKV_OK) break;
        fwrite(piece, 1, n_bytes, stdout);
        fflush(stdout);
        prev = next;
        s = wkv_prefill(ctx, 0, &next, 1);
    }
    int code = s == WKV_OK ? 0 : failed("generating", s);

    wkv_cache_stats stats;
    if (code == 0 && wkv_cache_get_stats(ctx, 0, &stats) == WKV_OK) {
        fprintf(stderr, "\nsimple: %s, cache %u of %u entries, %llu evictions, %llu merges\n",
                wkv_context_device_name(ctx), stats.entries, stats.budget, (unsigned long long)stats.evictions,
                (unsigned long long)stats.merges);
    }
    free(tokens);
    wkv_sampler_free(sampler);
    wkv_context_free(ctx);
    wkv_model_free(model);
    return code;
}
