#include "gpu_engine.hpp"

#include "memory_plan.hpp"

namespace wkv {

namespace {

// Refuses a run that does not fit the device before anything is uploaded.
std::unique_ptr<GpuWeights> plan_and_upload(Context& ctx, const Model& model, const CacheSettings& settings, const GpuEngineOptions& o) {
    check_fits(plan_memory(model, {settings}, o.max_chunk_bytes ? o.max_chunk_bytes : ctx.info().max_storage_buffer_range), ctx.info());
    return upload_weights(ctx, model, o.max_chunk_bytes, o.upload_progress);
}

}  // namespace

GpuEngine::GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options)
    : ctx_(ctx), weights_(plan_and_upload(ctx, model, settings, options)), batch_(ctx, *weights_, {settings}) {}

const std::vector<float>& GpuEngine::forward(int32_t token, uint32_t pos) {
    batch_.step({{true, token, pos, StepOutput::logits, 0}});
    logits_ = batch_.logits(0);
    return logits_;
}

void GpuEngine::feed(int32_t token, uint32_t pos) { batch_.step({{true, token, pos, StepOutput::none, 0}}); }

double GpuEngine::nll(int32_t token, uint32_t pos, int32_t target) {
    batch_.step({{true, token, pos, StepOutput::nll, target}});
    return batch_.nll(0);
}

}  // namespace wkv
