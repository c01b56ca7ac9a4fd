// Shader conformance: every shader against the CPU reference (model/) on
// seeded random inputs of several shapes (tiny, odd, realistic), and whole
// random models GPU vs CPU. Shared by `wkv conformance` and the test suite.
#pragma once

#include <string>
#include <vector>

#include "context.hpp"

namespace wkv {

struct ConformanceResult {
    std::string shader;     // "matvec_q8_0"
    std::string case_name;  // "rows=67 cols=288"
    double worst = 0;       // worst error, in the measure `tolerance` is stated in
    double tolerance = 0;
    std::string measure;  // how the error is measured

    bool pass() const { return worst <= tolerance; }
};

// Runs every check on `ctx`'s device.
std::vector<ConformanceResult> run_conformance(Context& ctx);

}  // namespace wkv
