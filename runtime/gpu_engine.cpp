#include "gpu_engine.hpp"

namespace wkv {

GpuEngine::GpuEngine(Context& ctx, const Model& model, const CacheSettings& settings, GpuEngineOptions options)
    : ctx_(ctx), weights_(upload_weights(ctx, model, options.max_chunk_bytes)), batch_(ctx, *weights_, {settings}) {}

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
