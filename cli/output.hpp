// Results files the user names (--json): checked before the run, so an
// unwritable path fails in a second instead of after hours, and written whole
// at the end, so a reader never sees half a file and a failure leaves none.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace wkv {

// `text` fit for an XML document (a JUnit report, an SVG): markup characters as entities, and
// control characters XML 1.0 does not allow as '?'.
std::string xml_escaped(const std::string& text);

class OutputFile {
public:
    // Checks `path` now: a symlink is followed to its target; a directory, FIFO,
    // device or other special file is refused; its directory must let us create
    // a file there (tried, and removed). Throws wkv::Error naming the path (or `flag`,
    // the option that gave it, when the path is empty). The file is created with the
    // permissions the umask allows; an existing file keeps its own.
    OutputFile(std::string path, const std::string& flag);

    // Writes `text` to a temporary file beside the target, checking every write,
    // fsync and close, then renames it over the target (a symlink stays a link
    // to it). On any failure the temporary file is removed and wkv::Error names
    // the path and the reason.
    void write(const std::string& text) const;
    // `doc` indented, with invalid UTF-8 in strings (a file name, say) replaced by U+FFFD.
    void write(const nlohmann::json& doc) const;

    const std::string& path() const { return path_; }

private:
    std::string path_;    // as the user gave it
    std::string target_;  // the file written: path_ with symlinks followed
};

}  // namespace wkv
