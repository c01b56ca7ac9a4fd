#include "engine_factory.hpp"

#include "cpu_engine.hpp"
#include "memory_plan.hpp"

namespace wkv {

std::unique_ptr<BatchEngine> make_gpu_engine(Context& ctx, const Model& model, std::vector<CacheSettings> sequences,
                                             GpuOptions options) {
    const uint32_t chunk = prompt_chunk_that_fits(model.config, sequences, ctx.info(), options.prompt_chunk);
    const uint64_t limit = options.max_buffer_bytes ? options.max_buffer_bytes : ctx.info().max_buffer_bytes();
    check_fits(plan_memory(model, sequences, limit, chunk), ctx.info());
    std::shared_ptr<const GpuWeights> weights =
        upload_weights(ctx, model, options.max_buffer_bytes, options.upload_progress);
    return std::make_unique<BatchEngine>(ctx, std::move(weights), std::move(sequences), chunk,
                                         options.max_buffer_bytes);
}

OpenEngine open_engine(const Model& model, std::vector<CacheSettings> sequences, const EngineChoice& choice,
                       GpuOptions options) {
    OpenEngine e;
    if (choice.cpu) {
        e.engine = std::make_unique<CpuEngine>(model, std::move(sequences));
        return e;
    }
    e.context = std::make_unique<Context>(choice.device);
    e.engine = make_gpu_engine(*e.context, model, std::move(sequences), options);
    return e;
}

}  // namespace wkv
