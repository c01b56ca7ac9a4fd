#include "gpu_engine.hpp"

#include <algorithm>

#include "memory_plan.hpp"

namespace wkv {

namespace {

// Refuses a run that does not fit the device before anything is uploaded.
// Shrinks o.prompt_chunk first where the device's limits ask for it.
std::unique_ptr<GpuWeights> plan_and_upload(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions& o) {
    o.prompt_chunk = prompt_chunk_that_fits(model.config, {settings}, ctx.info(), o.prompt_chunk);
    check_fits(plan_memory(model, {settings}, o.max_buffer_bytes ? o.max_buffer_bytes : ctx.info().max_buffer_bytes(), o.prompt_chunk),
               ctx.info());
    return upload_weights(ctx, model, o.max_buffer_bytes, o.upload_progress);
}

}  // namespace

GpuEngine::GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options)
    : ctx_(ctx), weights_(plan_and_upload(ctx, model, settings, options)),  // (fits options.prompt_chunk, which batch_ reads next)
      batch_(ctx, *weights_, {settings}, options.prompt_chunk, options.max_buffer_bytes) {}

const std::vector<float>& GpuEngine::forward(int32_t token, uint32_t pos) {
    batch_.step({{true, token, pos, StepOutput::logits, 0}});
    logits_ = batch_.logits(0);
    return logits_;
}

int32_t GpuEngine::next_token(int32_t token, uint32_t pos, Sampler& sampler) {
    if (!sampler.greedy()) return sampler.sample(forward(token, pos));  // top-p stays on the host (docs/results.md)
    batch_.step({{true, token, pos, StepOutput::token, 0}});
    return batch_.token(0);
}

void GpuEngine::feed(int32_t token, uint32_t pos) { batch_.step({{true, token, pos, StepOutput::none, 0}}); }

void GpuEngine::feed(std::span<const int32_t> tokens, uint32_t first_pos) {
    for (size_t done = 0; done < tokens.size(); done += batch_.max_chunk()) {
        const size_t n = std::min<size_t>(batch_.max_chunk(), tokens.size() - done);
        batch_.prefill(0, tokens.subspan(done, n), first_pos + static_cast<uint32_t>(done), false);
    }
}

double GpuEngine::nll(int32_t token, uint32_t pos, int32_t target) {
    batch_.step({{true, token, pos, StepOutput::nll, target}});
    return batch_.nll(0);
}

}  // namespace wkv
