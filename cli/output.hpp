// Writing results files from the CLI.
#pragma once

#include <string>

namespace wkv {

// Writes next to the target and renames, so a reader never sees half a file.
void write_atomically(const std::string& path, const std::string& text);
// `s` as the inside of a JSON string literal.
std::string json_escape(const std::string& s);

}  // namespace wkv
