// Which engine runs a model: the Vulkan device (default; --device N picks one)
// or the CPU reference (--cpu).
#include "commands.hpp"
#include "engine.hpp"
#include "error.hpp"
#include "progress.hpp"
#include "reference.hpp"
#include "runtime/gpu_engine.hpp"

namespace wkv {

ContextOptions context_options(const Args& args) {
    ContextOptions options;
    if (args.has("--device")) options.device_index = static_cast<uint32_t>(args.integer("--device", 0, 0, 255));
    return options;
}

EngineHandle make_engine(const Args& args, const Model& model, const CacheSettings& cache) {
    EngineHandle h;
    if (args.has("--cpu")) {
        if (args.has("--device")) throw Error(std::string("--cpu and --device exclude each other"));
        h.engine = std::make_unique<Reference>(model, cache);
        return h;
    }
    h.context = std::make_unique<Context>(context_options(args));
    Progress progress("loading " + model.path, "MiB", model.weight_bytes(), /*lines_when_piped=*/false, 1048576.0);
    GpuEngineOptions options;
    options.upload_progress = [&](uint64_t done, uint64_t) { progress.set(done); };
    h.engine = std::make_unique<GpuEngine>(*h.context, model, cache, options);
    return h;
}

}  // namespace wkv
