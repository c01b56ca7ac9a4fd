#include "serve_slots.hpp"

#include <algorithm>
#include <chrono>

#include "constant_time.hpp"
#include "error.hpp"

namespace wkv {

// --- Job -------------------------------------------------------------------

void Job::push(const std::string& piece) {
    std::lock_guard<std::mutex> lock(mutex_);
    unread_ += piece;
    changed_.notify_all();
}

void Job::finish(Finish reason, std::string why, Blame who) {
    std::lock_guard<std::mutex> lock(mutex_);
    finish_ = reason;
    error = std::move(why);
    blame = who;
    changed_.notify_all();
}

std::string Job::next(int timeout_ms, Finish* finish) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                      [&] { return !unread_.empty() || finish_ != Finish::none; });
    *finish = unread_.empty() ? finish_ : Finish::none;  // the end only once the text is all read
    std::string out;
    out.swap(unread_);
    return out;
}

void Job::cancel() {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
}

bool Job::cancelled() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
}

// --- SlotPool --------------------------------------------------------------

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point start) { return std::chrono::duration<double>(clock::now() - start).count(); }

bool same_messages(const std::vector<ChatMessage>& prefix, const std::vector<ChatMessage>& all) {
    if (prefix.empty() || prefix.size() > all.size()) return false;
    for (size_t i = 0; i < prefix.size(); i++) {
        if (prefix[i].role != all[i].role || prefix[i].content != all[i].content) return false;
    }
    return true;
}

}  // namespace

SlotPool::SlotPool(Engine& engine, const ModelConfig& config, const Tokenizer& tokenizer,
                   std::optional<ChatTemplate> chat, const CacheSettings& cache, size_t max_queue,
                   int64_t max_prompt_tokens, bool publish_views)
    : tokenizer_(tokenizer),
      chat_(std::move(chat)),
      cache_(cache),
      engine_(engine),
      max_queue_(max_queue),
      max_prompt_tokens_(max_prompt_tokens),
      publish_views_(publish_views) {
    context_ = config.context;
    const std::vector<int32_t> stops = chat_ ? chat_->stop_tokens() : std::vector<int32_t>{};
    slots_.reserve(engine.size());
    for (uint32_t b = 0; b < engine.size(); b++)
        slots_.emplace_back(Generator(engine, tokenizer, SamplerSettings{}, stops, b));
    published_.resize(slots_.size());
    worker_ = std::thread([this] { run(); });
}

SlotPool::~SlotPool() {
    shutdown();
    worker_.join();
}

void SlotPool::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        // Queued jobs end here; running ones at the worker's next turn (within one step).
        for (const std::shared_ptr<Job>& job : queue_)
            job->finish(Job::Finish::shutdown, "the server is shutting down");
        queue_.clear();
    }
    work_.notify_all();
}

bool SlotPool::submit(const std::shared_ptr<Job>& job) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return false;
        // Room for it: a free slot not yet claimed by a queued job, or a place in the queue.
        const size_t free =
            static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.job; }));
        if (queue_.size() >= max_queue_ + free) return false;
        job->submitted = clock::now();
        queue_.push_back(job);
    }
    work_.notify_all();
    return true;
}

void SlotPool::Slot::log_tokens(std::span<const int32_t> tokens) {
    log.insert(log.end(), tokens.begin(), tokens.end());
    while (log.size() > kLoggedTokens) {
        log.pop_front();
        log_first++;
    }
}

const std::string& PublishedView::rendered(bool heads, const std::function<std::string()>& render) const {
    std::lock_guard<std::mutex> lock(render_mutex_);
    std::optional<std::string>& text = rendered_[heads ? 1 : 0];
    if (!text) text = render();
    return *text;
}

std::shared_ptr<const PublishedView> SlotPool::view(const std::string& token) const {
    if (token.empty()) return nullptr;
    std::lock_guard<std::mutex> lock(views_mutex_);
    for (const auto& published : published_) {
        if (published && constant_time_equal(token, published->token)) return published;
    }
    return nullptr;
}

void SlotPool::publish(uint32_t b, std::shared_ptr<const PublishedView> view) {
    std::lock_guard<std::mutex> lock(views_mutex_);
    published_[b].swap(view);
}  // (the old copy is freed here, after the lock, if no reader holds it)

void SlotPool::publish_due() {
    if (!publish_views_) return;
    for (uint32_t b = 0; b < slots_.size(); b++) {
        Slot& s = slots_[b];
        if (!s.publish_due) continue;
        s.publish_due = false;
        s.published_at = clock::now();
        auto published = std::make_shared<PublishedView>();
        published->token = s.view_token;
        published->etag = "\"" + std::to_string(etags_()) + "\"";
        SlotView& v = published->view;
        v.slot = b;
        v.tokens = s.generator.fed();
        v.first_logged = s.log_first;
        v.logged.assign(s.log.begin(), s.log.end());
        try {
            v.view = engine_.cache_view(b);
        } catch (const Error& e) {
            v.error = e.what();
        }
        publish(b, std::move(published));
    }
}

bool SlotPool::idle() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return queue_.empty() && std::none_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
}

PoolStats SlotPool::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    PoolStats s;
    for (const Slot& slot : slots_) s.slots.push_back({slot.job != nullptr, slot.tokens, slot.entries});
    s.queued = queue_.size();
    s.kv_cache_bytes = engine_.kv_cache_bytes();
    for (const Slot& slot : slots_) s.kv_bytes_in_use += slot.kv_bytes;
    s.tokens_generated = generated_;
    s.prompt_tokens = prompt_tokens_;
    s.cached_tokens = cached_tokens_;
    s.evictions = retired_;
    for (const Slot& slot : slots_) {
        s.evictions.evictions += slot.evictions.evictions;
        s.evictions.merges += slot.evictions.merges;
    }
    s.time_to_first_token = first_token_;
    s.time_per_output_token = per_token_;
    if (recent_.size() >= 2) {
        const auto& [t0, n0] = recent_.front();
        const auto& [t1, n1] = recent_.back();
        s.tokens_per_second = t1 > t0 ? static_cast<double>(n1 - n0) / (t1 - t0) : 0.0;
    }
    return s;
}

// Called with mutex_ held.
bool SlotPool::assign() {
    bool started = false;
    for (auto it = queue_.begin(); it != queue_.end();) {
        const std::shared_ptr<Job> job = *it;
        if (job->cancelled()) {
            job->finish(Job::Finish::cancelled);
            it = queue_.erase(it);
            continue;
        }
        // The slot that holds this conversation; else a free one, the emptiest first.
        std::optional<uint32_t> chosen;
        for (uint32_t b = 0; b < slots_.size(); b++) {
            if (!slots_[b].job && same_messages(slots_[b].history, job->messages)) chosen = b;
        }
        for (uint32_t b = 0; b < slots_.size() && !chosen; b++) {
            if (!slots_[b].job && slots_[b].history.empty() && slots_[b].tokens == 0) chosen = b;
        }
        for (uint32_t b = 0; b < slots_.size() && !chosen; b++) {
            if (!slots_[b].job) chosen = b;
        }
        if (!chosen) {
            ++it;
            continue;
        }
        start(*chosen, job);
        it = queue_.erase(it);
        started = true;
    }
    return started;
}

void SlotPool::start(uint32_t b, const std::shared_ptr<Job>& job) {
    Slot& s = slots_[b];
    std::vector<int32_t> tokens;
    try {
        if (!job->messages.empty()) {
            if (!chat_) throw Error("the model has no chat template (start the server with --chat-template)");
            if (same_messages(s.history, job->messages)) {
                // The conversation continues: close the last reply, then only the new messages.
                const std::vector<ChatMessage> more(job->messages.begin() + static_cast<long>(s.history.size()),
                                                    job->messages.end());
                tokens = chat_->close_reply(s.reply_ended);
                const std::vector<int32_t> rest = chat_->render(more, /*opens=*/false);
                tokens.insert(tokens.end(), rest.begin(), rest.end());
                job->reused_tokens = s.generator.fed();
            } else {
                tokens = chat_->render(job->messages);
            }
        } else {
            tokens = tokenizer_.encode_prompt(job->prompt);
        }
        if (tokens.empty()) throw Error("the prompt is empty");
        if (max_prompt_tokens_ && static_cast<int64_t>(tokens.size()) > max_prompt_tokens_) {
            throw Error("the prompt has " + std::to_string(tokens.size()) + " tokens, more than the " +
                        std::to_string(max_prompt_tokens_) +
                        " one request may bring (the server's --max-tokens-per-request)");
        }
    } catch (const Error& e) {
        job->error_param = job->messages.empty() ? "prompt" : "messages";  // what went wrong here is the prompt
        job->finish(Job::Finish::failed, e.what());
        return;
    }
    // What the cache takes: the tokens held and waiting, and the prompt's (its last waits).
    const uint64_t held = job->reused_tokens ? s.generator.length() : 0;
    std::string limit;
    const int64_t room = reply_room(held + tokens.size(), &limit);
    if (room < 1 || (job->max_tokens_given && job->max_tokens > room)) {
        const std::string asked =
            job->max_tokens_given ? std::to_string(job->max_tokens) + " are asked for" : "a reply needs at least 1";
        job->error_param = job->max_tokens_given ? "max_tokens" : (job->messages.empty() ? "prompt" : "messages");
        job->finish(Job::Finish::failed, "the conversation's " + std::to_string(held + tokens.size()) +
                                             " tokens leave room for " + std::to_string(std::max<int64_t>(room, 0)) +
                                             " more in " + limit + ", and " + asked);
        return;
    }
    if (!job->max_tokens_given) job->max_tokens = std::min(job->max_tokens, room);
    if (!job->reused_tokens) {
        // A new conversation: nothing of the last one stays, in the cache or in its view.
        retire_evictions(b, true);
        s.generator.reset();
        s.clear_log();
    }
    s.view_token = job->view_token;  // the last reply's credential is void from here on
    s.publish_due = true;
    s.log_tokens(tokens);
    job->slot = static_cast<int32_t>(b);
    s.job = job;
    s.history = job->messages;
    s.generator.queue(tokens);  // after the last reply's end of turn, if it waits
    s.generator.set_sampling(job->sampling);
    s.generator.begin_reply();
    s.reply.clear();
    job->prompt_tokens = static_cast<uint32_t>(tokens.size());
    prompt_tokens_ += tokens.size();
    cached_tokens_ += job->reused_tokens;
}

int64_t SlotPool::reply_room(uint64_t length, std::string* limit) const {
    // The k-th reply token is predicted by a step that feeds position length - 2 + k into the cache.
    int64_t room = INT64_MAX;
    if (!cache_.policy.compresses()) {
        room = static_cast<int64_t>(cache_.policy.budget) - static_cast<int64_t>(length) + 1;
        *limit = "the full cache of " + std::to_string(cache_.policy.budget) +
                 " entries (a compressing --policy has no such limit)";
    }
    if (cache_.positions == PositionMode::original) {
        const int64_t until_context = static_cast<int64_t>(context_) - static_cast<int64_t>(length) + 1;
        if (until_context < room) {
            room = until_context;
            *limit = "the model's context of " + std::to_string(context_) +
                     " positions (original positions; --positions cache has no such limit)";
        }
    }
    return room;
}

void SlotPool::retire_evictions(uint32_t b, bool engine_ok) {
    Slot& s = slots_[b];
    if (engine_ok && cache_.policy.compresses()) {
        try {
            s.evictions = engine_.eviction_counts(b);
        } catch (const Error&) {  // the last counts read stand
        }
    }
    retired_.evictions += s.evictions.evictions;
    retired_.merges += s.evictions.merges;
    s.evictions = {};
}

void SlotPool::release(uint32_t b, Job::Finish finish, const std::string& error) {
    Slot& s = slots_[b];
    if (!s.job) return;
    const std::string rest = s.generator.end_reply();  // a reply that ended inside a character ends with U+FFFD
    if (!rest.empty()) {
        s.reply += rest;
        s.job->push(rest);
    }
    if (!s.job->messages.empty() && finish != Job::Finish::failed) {
        s.history.push_back({"assistant", s.reply});
    } else {
        s.history.clear();  // a completion, or a broken turn: nothing to continue
    }
    if (finish != Job::Finish::stop && finish != Job::Finish::length) s.history.clear();
    if (finish == Job::Finish::stop || finish == Job::Finish::length) {
        const Job& job = *s.job;
        if (job.completion_tokens > 0) {
            first_token_.observe(std::chrono::duration<double>(job.first_token - job.submitted).count());
            if (job.completion_tokens > 1) {
                per_token_.observe(std::chrono::duration<double>(clock::now() - job.first_token).count() /
                                   static_cast<double>(job.completion_tokens - 1));
            }
        }
        if (cache_.policy.compresses()) {
            try {
                s.evictions = engine_.eviction_counts(b);
            } catch (const Error&) {  // counted at the next reply instead
            }
        }
    }
    // Its client hears of the end once the view of what the reply left is published (finish_released).
    released_.push_back(
        {s.job, finish, error, finish == Job::Finish::failed ? Job::Blame::server : Job::Blame::request});
    s.job.reset();
    s.publish_due = true;
}

void SlotPool::finish_released() {
    for (Released& r : released_) r.job->finish(r.finish, std::move(r.error), r.blame);
    released_.clear();
}

void SlotPool::fail(uint32_t b, const std::string& error) {
    Slot& s = slots_[b];
    retire_evictions(b, false);
    s.generator.reset();
    s.clear_log();
    s.tokens = s.entries = 0;
    s.kv_bytes = 0;
    release(b, Job::Finish::failed, error);
}

void SlotPool::step_isolated(std::vector<SequenceStep>& steps, std::vector<uint32_t>& decoding) {
    try {
        engine_.step(steps);
        return;
    } catch (const Error&) {
        // Refused before any sequence moved: find the slots whose own step is refused.
    }
    std::vector<SequenceStep> alone(steps.size());
    for (SequenceStep& step : alone) step.active = false;
    std::vector<uint32_t> stepped;
    for (uint32_t b : decoding) {
        alone[b] = steps[b];
        try {
            engine_.step(alone);  // a batch equals each sequence alone, bit for bit
            stepped.push_back(b);
        } catch (const Error& e) {
            std::lock_guard<std::mutex> lock(mutex_);
            fail(b, e.what());
        }
        alone[b].active = false;
    }
    decoding = stepped;
}

void SlotPool::run() {
    const auto start_time = clock::now();
    while (true) {
        bool stopping = false, busy = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            assign();
            // Jobs whose client has gone free their slot now.
            for (uint32_t b = 0; b < slots_.size(); b++) {
                if (slots_[b].job && slots_[b].job->cancelled()) release(b, Job::Finish::cancelled);
            }
            stopping = stop_;
            for (uint32_t b = 0; b < slots_.size() && stopping; b++)
                release(b, Job::Finish::shutdown, "the server is shutting down");
            busy = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
        }
        publish_due();
        finish_released();
        if (stopping) return;
        if (!busy) {
            std::unique_lock<std::mutex> lock(mutex_);
            work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
            continue;
        }
        // Prompts: one chunk per slot this turn. A chunk the engine refuses fails its slot alone.
        for (uint32_t b = 0; b < slots_.size(); b++) {
            Slot& s = slots_[b];
            if (!s.job || !s.generator.feeding()) continue;
            try {
                s.generator.feed(engine_.prefill_chunk());
            } catch (const Error& e) {
                std::lock_guard<std::mutex> lock(mutex_);
                fail(b, e.what());
            }
        }
        // Replies: one token for every slot whose prompt is in, in one step.
        std::vector<SequenceStep> steps(slots_.size());
        std::vector<uint32_t> decoding;
        for (uint32_t b = 0; b < slots_.size(); b++) {
            Slot& s = slots_[b];
            steps[b].active = s.job && !s.generator.feeding();
            if (!steps[b].active) continue;
            steps[b] = s.generator.next_step();
            decoding.push_back(b);
        }
        if (!decoding.empty()) step_isolated(steps, decoding);
        std::unique_lock<std::mutex> lock(mutex_);
        for (uint32_t b : decoding) {
            Slot& s = slots_[b];
            std::optional<std::string> piece;
            try {
                piece = s.generator.advance();
            } catch (const Error& e) {  // its logits are not finite
                fail(b, e.what());
                continue;
            }
            const int32_t sampled[] = {*s.generator.waiting()};
            s.log_tokens(sampled);  // it goes in next, or the slot starts afresh
            if (publish_views_ && clock::now() - s.published_at >= kPublishInterval) s.publish_due = true;
            if (!piece) {
                const int32_t end = *s.generator.waiting();
                s.reply_ended = !chat_ || end == chat_->end_of_turn() || end == tokenizer_.eos_id();
                release(b, Job::Finish::stop);
                continue;
            }
            s.reply += *piece;
            s.job->push(*piece);
            if (s.job->completion_tokens++ == 0) s.job->first_token = clock::now();
            generated_++;
            if (s.job->completion_tokens >= s.job->max_tokens) {
                s.reply_ended = false;
                release(b, Job::Finish::length);
            }
        }
        for (uint32_t b = 0; b < slots_.size(); b++) {
            slots_[b].tokens = slots_[b].generator.fed();
            slots_[b].entries = engine_.entries(b);
            slots_[b].kv_bytes = engine_.kv_bytes_held(b);
        }
        const double now = seconds_since(start_time);
        recent_.emplace_back(now, generated_);
        while (recent_.size() > 2 && now - recent_.front().first > 5.0) recent_.pop_front();
        lock.unlock();
        publish_due();  // before the jobs that ended hear of it: a client that reads its view after its reply finds it
        finish_released();
    }
}

}  // namespace wkv
