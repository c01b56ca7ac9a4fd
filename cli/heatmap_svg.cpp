#include "heatmap_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "output.hpp"

namespace wkv {

namespace {

// Red at 0, yellow at 0.5, green at 1; grey for a cell not run.
std::string colour(double accuracy) {
    if (std::isnan(accuracy)) return "#cccccc";
    const double a = std::clamp(accuracy, 0.0, 1.0);
    const int red = static_cast<int>(std::lround(a < 0.5 ? 215 : 215 - (a - 0.5) * 2 * (215 - 26)));
    const int green = static_cast<int>(std::lround(a < 0.5 ? 48 + a * 2 * (190 - 48) : 190 - (a - 0.5) * 2 * 40));
    const int blue = static_cast<int>(std::lround(a < 0.5 ? 39 : 39 + (a - 0.5) * 2 * 41));
    char out[8];
    std::snprintf(out, sizeof out, "#%02x%02x%02x", red, green, blue);
    return out;
}

std::string number(double v) {
    char out[32];
    std::snprintf(out, sizeof out, "%g", v);
    return out;
}

constexpr int cell = 36, left = 48, top = 40, gap = 28, label = 34, char_width = 7;

// A map's width: its cells, or its title and axis label where they are wider.
int panel_width(const Heatmap& m) {
    const int cells = left + static_cast<int>(m.lengths.size()) * cell;
    const int title = left + static_cast<int>(std::max<size_t>(m.title.size(), 23)) * char_width;
    return std::max(cells, title) + gap;
}

}  // namespace

std::string heatmaps_svg(const std::vector<Heatmap>& maps, const std::string& caption) {
    int width = static_cast<int>(caption.size()) * 6 + 8, x_end = 0, height = 0;
    for (const Heatmap& m : maps) {
        x_end += panel_width(m);
        height = std::max(height, top + static_cast<int>(m.depths.size()) * cell + label);
    }
    width = std::max(width, x_end);
    height += 24;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                      std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
    svg += "<text x=\"4\" y=\"" + std::to_string(height - 6) + "\">" + xml_escaped(caption) + "</text>\n";
    int x0 = 0;
    for (const Heatmap& m : maps) {
        svg += "<g class=\"heatmap\" data-policy=\"" + xml_escaped(m.policy) + "\" transform=\"translate(" +
               std::to_string(x0) + ",0)\">\n";
        svg += "<text x=\"" + std::to_string(left) + "\" y=\"16\" font-weight=\"bold\">" + xml_escaped(m.title) +
               "</text>\n";
        svg += "<text x=\"4\" y=\"30\">depth</text>\n";
        for (size_t d = 0; d < m.depths.size(); d++) {
            const int y = top + static_cast<int>(d) * cell;
            svg += "<text x=\"" + std::to_string(left - 6) + "\" y=\"" + std::to_string(y + cell / 2 + 4) +
                   "\" text-anchor=\"end\">" + number(m.depths[d]) + "</text>\n";
            for (size_t l = 0; l < m.lengths.size(); l++) {
                const double a = m.accuracy[d][l];
                const int x = left + static_cast<int>(l) * cell;
                svg += "<rect class=\"cell\" x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
                       std::to_string(cell - 1) + "\" height=\"" + std::to_string(cell - 1) + "\" fill=\"" + colour(a) +
                       "\" data-accuracy=\"" + (std::isnan(a) ? "" : number(a)) + "\"><title>length " +
                       std::to_string(m.lengths[l]) + ", depth " + number(m.depths[d]) + ": " +
                       (std::isnan(a) ? "not run" : number(std::round(a * 1000) / 10) + " %") + "</title></rect>\n";
            }
        }
        const int y = top + static_cast<int>(m.depths.size()) * cell + 14;
        for (size_t l = 0; l < m.lengths.size(); l++) {
            svg += "<text x=\"" + std::to_string(left + static_cast<int>(l) * cell + cell / 2) + "\" y=\"" +
                   std::to_string(y) + "\" text-anchor=\"middle\">" + std::to_string(m.lengths[l]) + "</text>\n";
        }
        svg += "<text x=\"" + std::to_string(left) + "\" y=\"" + std::to_string(y + 16) +
               "\">context length (tokens)</text>\n</g>\n";
        x0 += panel_width(m);
    }
    return svg + "</svg>\n";
}

}  // namespace wkv
