#include "batch_perplexity.hpp"

#include <optional>
#include <stdexcept>

namespace wkv {

std::vector<CacheSettings> lane_settings(const std::vector<CacheSettings>& settings, uint32_t lanes) {
    std::vector<CacheSettings> all;
    for (uint32_t lane = 0; lane < lanes; lane++) all.insert(all.end(), settings.begin(), settings.end());
    return all;
}

bool evaluate_windows_batch(BatchEngine& engine, uint32_t settings, const std::vector<WindowTask>& tasks, const WindowEvents& events) {
    if (settings == 0 || engine.size() % settings != 0) throw std::logic_error("the engine must hold whole lanes of settings");
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
                step = {true, tokens[lane.t], lane.t - task.window.begin, scored ? StepOutput::nll : StepOutput::none, tokens[lane.t + 1]};
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
                    lane.sums[s].total_nll += engine.nll(i * settings + s);
                    lane.sums[s].scored++;
                }
            }
            if (++lane.t + 1 >= tasks[*lane.task].window.end) {
                if (events.done) events.done(*lane.task, lane.sums);
                start_next(i);
            }
        }
        if (events.stepped && !events.stepped(fed)) return false;
    }
}

std::vector<NllSum> evaluate_window_batch(BatchEngine& engine, const std::vector<int32_t>& tokens, const Window& w) {
    std::vector<NllSum> sums(engine.size());
    WindowEvents events;
    events.done = [&](size_t, const std::vector<NllSum>& s) { sums = s; };
    evaluate_windows_batch(engine, engine.size(), {{&tokens, w}}, events);
    return sums;
}

}  // namespace wkv
