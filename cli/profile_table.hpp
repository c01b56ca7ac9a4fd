// The device time per shader that `--profile` prints (wkv ppl, wkv bench).
#pragma once

#include <string>
#include <vector>

#include "runtime/recorder.hpp"  // ShaderTime

namespace wkv {

// A table on stderr, the most expensive shader first, under `title` when it has one.
void print_profile(const std::vector<ShaderTime>& shaders, const std::string& title = "");
// What was spent between two snapshots of the same totals (Recorder::profile).
std::vector<ShaderTime> profile_since(const std::vector<ShaderTime>& now, const std::vector<ShaderTime>& before);

}  // namespace wkv
