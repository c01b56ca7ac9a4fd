#include "batch_perplexity.hpp"

namespace wkv {

std::vector<NllSum> evaluate_window_batch(BatchEngine& engine, const std::vector<int32_t>& tokens, const Window& w,
                                          const TokenCallback& on_token, bool* complete) {
    const uint32_t B = engine.size();
    for (uint32_t b = 0; b < B; b++) engine.reset(b);
    std::vector<NllSum> sums(B);
    std::vector<SequenceStep> steps(B);
    if (complete) *complete = true;
    for (uint32_t t = w.begin; t + 1 < w.end; t++) {
        const bool scored = t + 1 >= w.first_scored;
        for (SequenceStep& s : steps) s = {true, tokens[t], t - w.begin, scored ? StepOutput::nll : StepOutput::none, tokens[t + 1]};
        engine.step(steps);
        if (scored) {
            for (uint32_t b = 0; b < B; b++) {
                sums[b].total_nll += engine.nll(b);
                sums[b].scored++;
            }
        }
        if (on_token && !on_token()) {
            if (complete) *complete = false;
            break;
        }
    }
    return sums;
}

}  // namespace wkv
