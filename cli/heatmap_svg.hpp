// Heat maps of retrieval accuracy (wkv needle --svg): one per cache setting,
// side by side, context length across and needle depth down, each cell
// coloured from red (no trial found the key) to green (every trial did), as
// needle-in-a-haystack results are usually drawn.
#pragma once

#include <string>
#include <vector>

namespace wkv {

struct Heatmap {
    std::string title;   // "weightedkv, budget 64"
    std::string policy;  // for data-policy, so a reader (a test) can find it
    std::vector<uint32_t> lengths;
    std::vector<double> depths;
    std::vector<std::vector<double>> accuracy;  // [depth][length], 0..1; NaN for a cell not run
};

// A standalone SVG document of the maps, in order.
std::string heatmaps_svg(const std::vector<Heatmap>& maps, const std::string& caption);

}  // namespace wkv
