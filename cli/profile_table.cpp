#include "profile_table.hpp"

#include <algorithm>
#include <cstdio>

namespace wkv {

void print_profile(const std::vector<ShaderTime>& shaders, const std::string& title) {
    double total = 0;
    for (const ShaderTime& t : shaders) total += t.seconds;
    if (!title.empty()) std::fprintf(stderr, "\n%s", title.c_str());
    std::fprintf(stderr, "\n%-24s %11s %10s %7s\n", "shader", "dispatches", "seconds", "share");
    for (const ShaderTime& t : shaders) {
        std::fprintf(stderr, "%-24s %11llu %10.3f %6.1f%%\n", t.shader.c_str(),
                     static_cast<unsigned long long>(t.dispatches), t.seconds,
                     total > 0 ? 100 * t.seconds / total : 0.0);
    }
    std::fprintf(stderr, "%-24s %11s %10.3f\n", "all", "", total);
}

std::vector<ShaderTime> profile_since(const std::vector<ShaderTime>& now, const std::vector<ShaderTime>& before) {
    std::vector<ShaderTime> out;
    for (ShaderTime t : now) {
        for (const ShaderTime& b : before) {
            if (b.shader != t.shader) continue;
            t.dispatches -= b.dispatches;
            t.seconds -= b.seconds;
        }
        if (t.dispatches > 0) out.push_back(t);
    }
    std::sort(out.begin(), out.end(), [](const ShaderTime& a, const ShaderTime& b) { return a.seconds > b.seconds; });
    return out;
}

}  // namespace wkv
