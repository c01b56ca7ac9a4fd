// Which engine runs a model: the Vulkan device (default; --device N picks one)
// or the CPU reference (--cpu).
#include "commands.hpp"
#include "engine.hpp"
#include "error.hpp"
#include "reference.hpp"
#include "runtime/engine.hpp"

namespace wkv {

EngineHandle make_engine(const Args& args, const Model& model, uint32_t cache_capacity) {
    EngineHandle h;
    if (args.has("--cpu")) {
        if (args.has("--device")) throw Error(std::string("--cpu and --device exclude each other"));
        h.engine = std::make_unique<Reference>(model, cache_capacity);
        return h;
    }
    ContextOptions options;
    if (args.has("--device")) options.device_index = static_cast<uint32_t>(args.integer("--device", 0, 0, 255));
    h.context = std::make_unique<Context>(options);
    h.engine = std::make_unique<GpuEngine>(*h.context, model, cache_capacity);
    return h;
}

}  // namespace wkv
