#include "engine_factory.hpp"

#include "cpu_engine.hpp"
#include "memory_plan.hpp"

namespace wkv {

MemoryPlan plan_for_device(const Model& model, const std::vector<CacheSettings>& sequences, const DeviceInfo& device,
                           const GpuOptions& options) {
    const uint32_t chunk = prompt_chunk_that_fits(model.config, sequences, device, options.prompt_chunk);
    const uint64_t limit = options.max_buffer_bytes ? options.max_buffer_bytes : device.max_buffer_bytes();
    return plan_memory(model, sequences, limit, chunk);
}

std::unique_ptr<BatchEngine> make_gpu_engine(Context& ctx, const Model& model, std::vector<CacheSettings> sequences,
                                             GpuOptions options) {
    const MemoryPlan plan = plan_for_device(model, sequences, ctx.info(), options);
    check_fits(plan, ctx.info());
    const uint32_t chunk = plan.prompt_chunk;
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
