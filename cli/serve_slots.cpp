#include "serve_slots.hpp"

#include <algorithm>
#include <chrono>

#include "error.hpp"

namespace wkv {

// --- Job -------------------------------------------------------------------

void Job::push(const std::string& piece) {
    std::lock_guard<std::mutex> lock(mutex_);
    unread_ += piece;
    changed_.notify_all();
}

void Job::finish(Finish reason, std::string why) {
    std::lock_guard<std::mutex> lock(mutex_);
    finish_ = reason;
    error = std::move(why);
    changed_.notify_all();
}

std::string Job::next(int timeout_ms, Finish* finish) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !unread_.empty() || finish_ != Finish::none; });
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

SlotPool::SlotPool(Context& ctx, const GpuWeights& weights, const Tokenizer& tokenizer, std::optional<ChatTemplate> chat,
                   const CacheSettings& cache, uint32_t slots, size_t max_queue, uint32_t prompt_chunk, int64_t max_prompt_tokens)
    : tokenizer_(tokenizer),
      chat_(std::move(chat)),
      cache_(cache),
      batch_(ctx, weights, std::vector<CacheSettings>(slots, cache), prompt_chunk),
      slots_(slots),
      max_queue_(max_queue),
      max_prompt_tokens_(max_prompt_tokens),
      worker_([this] { run(); }) {}

SlotPool::~SlotPool() {
    shutdown();
    worker_.join();
}

void SlotPool::shutdown() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
        // Queued jobs end here; running ones at the worker's next turn (within one step).
        for (const std::shared_ptr<Job>& job : queue_) job->finish(Job::Finish::shutdown, "the server is shutting down");
        queue_.clear();
    }
    work_.notify_all();
}

bool SlotPool::submit(const std::shared_ptr<Job>& job) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stop_) return false;
        // Room for it: a free slot not yet claimed by a queued job, or a place in the queue.
        const size_t free = static_cast<size_t>(std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.job; }));
        if (queue_.size() >= max_queue_ + free) return false;
        queue_.push_back(job);
    }
    work_.notify_all();
    return true;
}

PoolStats SlotPool::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    PoolStats s;
    for (const Slot& slot : slots_) s.slots.push_back({slot.job != nullptr, slot.pos, slot.entries});
    s.queued = queue_.size();
    s.kv_cache_bytes = batch_.kv_cache_bytes();
    const uint64_t entry_bytes = kv_entry_bytes(batch_.config(), cache_.kv_type);
    for (const Slot& slot : slots_) s.kv_bytes_in_use += slot.entries * entry_bytes;
    s.tokens_generated = generated_;
    if (recent_.size() >= 2) {
        const auto& [t0, n0] = recent_.front();
        const auto& [t1, n1] = recent_.back();
        s.tokens_per_second = t1 > t0 ? static_cast<double>(n1 - n0) / (t1 - t0) : 0.0;
    }
    return s;
}

bool SlotPool::ends_reply(int32_t token) const {
    if (token == tokenizer_.eos_id() || token == tokenizer_.bos_id()) return true;
    if (!chat_) return false;
    const std::vector<int32_t> stops = chat_->stop_tokens();
    return std::find(stops.begin(), stops.end(), token) != stops.end();
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
            if (!slots_[b].job && slots_[b].history.empty() && slots_[b].pos == 0) chosen = b;
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
                const std::vector<ChatMessage> more(job->messages.begin() + static_cast<long>(s.history.size()), job->messages.end());
                tokens = chat_->close_reply(s.reply_ended);
                const std::vector<int32_t> rest = chat_->render(more, /*opens=*/false);
                tokens.insert(tokens.end(), rest.begin(), rest.end());
                job->reused_tokens = s.pos;
            } else {
                tokens = chat_->render(job->messages);
            }
        } else {
            tokens = tokenizer_.encode_prompt(job->prompt);
        }
        if (tokens.empty()) throw Error("the prompt is empty");
        if (max_prompt_tokens_ && static_cast<int64_t>(tokens.size()) > max_prompt_tokens_) {
            throw Error("the prompt has " + std::to_string(tokens.size()) + " tokens, more than the " + std::to_string(max_prompt_tokens_) +
                        " one request may bring (the server's --max-tokens-per-request)");
        }
    } catch (const Error& e) {
        job->error_param = job->messages.empty() ? "prompt" : "messages";  // what went wrong here is the prompt
        job->finish(Job::Finish::failed, e.what());
        return;
    }
    if (!job->reused_tokens) {
        batch_.reset(b);
        s.pos = 0;
        s.pending.reset();
    }
    if (!cache_.policy.compresses() && s.pos + tokens.size() + static_cast<uint64_t>(job->max_tokens) > cache_.policy.budget) {
        job->finish(Job::Finish::failed, "the conversation would outgrow the full cache of " + std::to_string(cache_.policy.budget) +
                                             " entries (start the server with a compressing --policy, whose cache never fills)");
        return;
    }
    s.job = job;
    s.history = job->messages;
    s.to_feed.clear();
    if (s.pending) s.to_feed.push_back(*s.pending);  // the last reply's end of turn
    s.to_feed.insert(s.to_feed.end(), tokens.begin(), tokens.end() - 1);
    s.pending = tokens.back();
    s.sampler.emplace(job->sampling);
    s.reply.clear();
    s.text = Utf8Stream();
    job->prompt_tokens = static_cast<uint32_t>(tokens.size());
}

void SlotPool::release(uint32_t b, Job::Finish finish, const std::string& error) {
    Slot& s = slots_[b];
    if (!s.job) return;
    if (s.text.holding()) {
        // The reply ended inside a character: it ends with U+FFFD, as the client sees it.
        const std::string rest = s.text.finish();
        s.reply += rest;
        s.job->push(rest);
    }
    if (!s.job->messages.empty() && finish != Job::Finish::failed) {
        s.history.push_back({"assistant", s.reply});
    } else {
        s.history.clear();  // a completion, or a broken turn: nothing to continue
    }
    if (finish != Job::Finish::stop && finish != Job::Finish::length) s.history.clear();
    s.job->finish(finish, error);
    s.job.reset();
}

void SlotPool::run() {
    const auto start_time = clock::now();
    while (true) {
        std::vector<uint32_t> decoding;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            assign();
            // Jobs whose client has gone free their slot now.
            for (uint32_t b = 0; b < slots_.size(); b++) {
                if (slots_[b].job && slots_[b].job->cancelled()) release(b, Job::Finish::cancelled);
            }
            const bool busy = std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.job != nullptr; });
            if (!busy) {
                if (stop_) return;
                work_.wait(lock, [&] { return stop_ || !queue_.empty(); });
                continue;
            }
            if (stop_) {
                for (uint32_t b = 0; b < slots_.size(); b++) release(b, Job::Finish::shutdown, "the server is shutting down");
                return;
            }
        }
        try {
            // Prompts: one chunk per slot this turn.
            for (uint32_t b = 0; b < slots_.size(); b++) {
                Slot& s = slots_[b];
                if (!s.job || s.to_feed.empty()) continue;
                const uint32_t n = static_cast<uint32_t>(std::min<size_t>(s.to_feed.size(), batch_.max_chunk()));
                batch_.prefill(b, std::span<const int32_t>(s.to_feed).first(n), s.pos, false);
                s.pos += n;
                s.to_feed.erase(s.to_feed.begin(), s.to_feed.begin() + n);
            }
            // Replies: one token for every slot whose prompt is in, in one batch.
            std::vector<SequenceStep> steps(slots_.size());
            for (uint32_t b = 0; b < slots_.size(); b++) {
                Slot& s = slots_[b];
                steps[b].active = s.job && s.to_feed.empty();
                if (!steps[b].active) continue;
                steps[b].token = *s.pending;
                steps[b].pos = s.pos;
                steps[b].output = s.sampler->greedy() ? StepOutput::token : StepOutput::logits;  // greedy: picked on the device
                decoding.push_back(b);
            }
            if (!decoding.empty()) batch_.step(steps);
            std::lock_guard<std::mutex> lock(mutex_);
            for (uint32_t b : decoding) {
                Slot& s = slots_[b];
                s.pos++;
                const int32_t previous = *s.pending;
                const int32_t next = s.sampler->greedy() ? batch_.token(b) : s.sampler->sample(batch_.logits(b));
                s.pending = next;
                if (ends_reply(next)) {
                    s.reply_ended = !chat_ || next == chat_->end_of_turn() || next == tokenizer_.eos_id();
                    release(b, Job::Finish::stop);
                    continue;
                }
                const std::string piece = s.text.push(tokenizer_.decode_piece(previous, next));
                s.reply += piece;
                s.job->push(piece);
                s.job->completion_tokens++;
                generated_++;
                if (s.job->completion_tokens >= s.job->max_tokens) {
                    s.reply_ended = false;
                    release(b, Job::Finish::length);
                }
            }
            for (uint32_t b = 0; b < slots_.size(); b++) slots_[b].entries = batch_.entries(b);
            const double now = seconds_since(start_time);
            recent_.emplace_back(now, generated_);
            while (recent_.size() > 2 && now - recent_.front().first > 5.0) recent_.pop_front();
        } catch (const Error& e) {
            // A slot's turn failed (its cache full, a bad token): that job fails, the others go on.
            std::lock_guard<std::mutex> lock(mutex_);
            for (uint32_t b = 0; b < slots_.size(); b++) {
                if (slots_[b].job) {
                    batch_.reset(b);
                    slots_[b].pos = 0;
                    slots_[b].pending.reset();
                    slots_[b].to_feed.clear();
                    release(b, Job::Finish::failed, e.what());
                }
            }
        }
    }
}

}  // namespace wkv
