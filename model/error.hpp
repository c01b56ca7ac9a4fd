// Errors that reach the user. Every failure caused by something outside the
// program (a file, a flag, the device) is thrown as wkv::Error with a message
// that names the thing and the problem; the CLI prints it as one line
// ("wkv: <message>") and exits with the error's code.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace wkv {

// Exit codes of the `wkv` program.
enum class ExitCode : int {
    ok = 0,
    bad_input = 2,  // usage errors, bad model/tokenizer/text files
    device = 3,     // Vulkan device errors
    model = 4,      // the model computed NaN or infinity: its weights, or the computation, are broken
};

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, ExitCode code = ExitCode::bad_input)
        : std::runtime_error(message), code_(code) {}
    ExitCode code() const { return code_; }

private:
    ExitCode code_;
};

// A string read from a file, fit for a one-line message: in quotes, control
// characters, DEL and bytes that are not UTF-8 as \xNN, and cut after 80
// characters. Names and keys from a hostile file pass through this.
std::string quoted(std::string_view text);

// `message` with every control character (a newline, a terminal escape) as
// \xNN: what the CLI prints, so an error is always one line.
std::string one_line(std::string_view message);

// Throws an Error whose message starts with `subject` (a file path or a flag,
// as given: only its control characters are escaped).
[[noreturn]] inline void fail(const std::string& subject, const std::string& problem,
                              ExitCode code = ExitCode::bad_input) {
    throw Error(one_line(subject) + ": " + problem, code);
}

}  // namespace wkv
