#include "perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>

namespace wkv {

std::vector<int32_t> document_tokens(const Tokenizer& tokenizer, std::string_view text, uint64_t max_tokens) {
    if (max_tokens == 0) return tokenizer.encode(text, tokenizer.adds_bos());
    // Tokens that a cut could still change: those nearest the cut. Far more than
    // a tokeniser's merges reach across a line end.
    constexpr uint64_t kMargin = 256;
    for (uint64_t bytes = (max_tokens + kMargin) * 8;; bytes *= 2) {
        std::string_view prefix = text;
        if (bytes < text.size()) {
            prefix = text.substr(0, bytes);
            const size_t line_end = prefix.rfind('\n');
            if (line_end != std::string_view::npos && line_end > bytes / 2) prefix = prefix.substr(0, line_end + 1);
        }
        std::vector<int32_t> tokens = tokenizer.encode(prefix, tokenizer.adds_bos());
        if (prefix.size() == text.size() || tokens.size() >= max_tokens + kMargin) {
            if (tokens.size() > max_tokens) tokens.resize(static_cast<size_t>(max_tokens));
            return tokens;
        }
    }
}

std::vector<Window> plan_windows(uint32_t n_tokens, uint32_t window, uint32_t stride) {
    std::vector<Window> out;
    if (n_tokens < 2 || window < 2 || stride < 1) return out;
    uint32_t previous_end = 0;
    for (uint32_t begin = 0;; begin += stride) {
        const uint32_t end = std::min(begin + window, n_tokens);
        out.push_back({begin, end, std::max(previous_end, begin + 1)});
        previous_end = end;
        if (end == n_tokens) break;
    }
    return out;
}

std::vector<CacheSettings> lane_settings(const std::vector<CacheSettings>& settings, uint32_t lanes) {
    std::vector<CacheSettings> all;
    for (uint32_t lane = 0; lane < lanes; lane++) all.insert(all.end(), settings.begin(), settings.end());
    return all;
}

bool evaluate_windows(Engine& engine, uint32_t settings, const std::vector<WindowTask>& tasks,
                      const WindowEvents& events) {
    if (settings == 0 || engine.size() % settings != 0)
        throw std::logic_error("the engine must hold whole lanes of settings");
    struct Lane {
        std::optional<size_t> task;  // none when the lane is idle
        uint32_t t = 0;              // the next token it feeds
        std::vector<NllSum> sums;
    };
    std::vector<Lane> lanes(engine.size() / settings);
    size_t next = 0;
    // Gives the lane the next task with something to predict (a fresh cache for each).
    auto start_next = [&](uint32_t index) {
        Lane& lane = lanes[index];
        lane.task.reset();
        while (next < tasks.size() && !lane.task) {
            const size_t task = next++;
            if (events.started) events.started(task);
            if (tasks[task].window.begin + 1 >= tasks[task].window.end) {
                if (events.done) events.done(task, std::vector<NllSum>(settings));
                continue;
            }
            lane.task = task;
            lane.t = tasks[task].window.begin;
            lane.sums.assign(settings, NllSum{});
            for (uint32_t s = 0; s < settings; s++) engine.reset(index * settings + s);
        }
    };
    for (uint32_t i = 0; i < lanes.size(); i++) start_next(i);

    std::vector<SequenceStep> steps(engine.size());
    for (;;) {
        uint32_t fed = 0;
        for (uint32_t i = 0; i < lanes.size(); i++) {
            const Lane& lane = lanes[i];
            SequenceStep step;
            step.active = lane.task.has_value();
            if (step.active) {
                const WindowTask& task = tasks[*lane.task];
                const std::vector<int32_t>& tokens = *task.tokens;
                const bool scored = lane.t + 1 >= task.window.first_scored;
                step = {true, tokens[lane.t], lane.t - task.window.begin, scored ? StepOutput::nll : StepOutput::none,
                        tokens[lane.t + 1]};
                fed += settings;
            }
            for (uint32_t s = 0; s < settings; s++) steps[i * settings + s] = step;
        }
        if (fed == 0) return true;
        engine.step(steps);
        for (uint32_t i = 0; i < lanes.size(); i++) {
            Lane& lane = lanes[i];
            if (!lane.task) continue;
            if (steps[i * settings].output == StepOutput::nll) {
                for (uint32_t s = 0; s < settings; s++) {
                    const double nll = engine.nll(i * settings + s);
                    if (!std::isfinite(nll)) throw broken_logits_error(steps[i * settings + s].pos);
                    lane.sums[s].total_nll += nll;
                    lane.sums[s].scored++;
                }
            }
            if (events.observed) events.observed(*lane.task, i * settings, lane.t - tasks[*lane.task].window.begin);
            if (++lane.t + 1 >= tasks[*lane.task].window.end) {
                if (events.ending) events.ending(*lane.task, i * settings);
                if (events.done) events.done(*lane.task, lane.sums);
                start_next(i);
            }
        }
        if (events.stepped && !events.stepped(fed)) return false;
    }
}

std::vector<NllSum> evaluate_window(Engine& engine, const std::vector<int32_t>& tokens, const Window& w) {
    std::vector<NllSum> sums(engine.size());
    WindowEvents events;
    events.done = [&](size_t, const std::vector<NllSum>& s) { sums = s; };
    evaluate_windows(engine, engine.size(), {{&tokens, w}}, events);
    return sums;
}

}  // namespace wkv
