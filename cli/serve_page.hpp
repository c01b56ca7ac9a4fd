// The demo page `wkv serve` shows at /: plain HTML and JavaScript, no build step, no CDN.
#pragma once

namespace wkv {

extern const char* const kServePage;

}  // namespace wkv
