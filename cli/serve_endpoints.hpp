// The handlers behind the routes of `wkv serve` (serve.cpp lists them in its
// table), and the state they share. Completions are in serve_completions.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "context.hpp"
#include "policy.hpp"
#include "serve_lifecycle.hpp"
#include "serve_metrics.hpp"
#include "serve_slots.hpp"
#include "tokenizer.hpp"

namespace wkv {

struct ServeState {
    std::string model_name;  // the file's name, as /v1/models lists it
    CacheSettings cache;     // every slot's
    const ModelConfig& config;
    const Tokenizer& tokenizer;
    SlotPool& pool;
    const Context* device;  // nullptr on the CPU
    StatusCounts& replies_by_status;
    ServeLifecycle& lifecycle;
    int64_t default_max_tokens;  // --n-predict
    int64_t max_request_tokens;  // --max-tokens-per-request (0: no cap)
    bool cache_view;             // --cache-view: replies hand out X-Cache-Token, GET /v1/cache answers it
    std::atomic<uint64_t> next_id{1};
};

httplib::Server::Handler page_handler();
httplib::Server::Handler health_handler(ServeState& state);
httplib::Server::Handler models_handler(ServeState& state);
httplib::Server::Handler stats_handler(ServeState& state);
httplib::Server::Handler metrics_handler(ServeState& state);
// GET /v1/cache: the view of the reply whose X-Cache-Token the request carries. Without
// --cache-view, and for a token no slot holds (another conversation's, a stale one), a 404.
httplib::Server::Handler cache_view_handler(ServeState& state);
// POST /v1/chat/completions (`chat`) or /v1/completions.
httplib::Server::Handler completion_handler(ServeState& state, bool chat);

}  // namespace wkv
