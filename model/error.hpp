// Errors that reach the user. Every failure caused by something outside the
// program (a file, a flag, the device) is thrown as wkv::Error with a message
// that names the thing and the problem; the CLI prints it as one line
// ("wkv: <message>") and exits with the error's code.
#pragma once

#include <stdexcept>
#include <string>

namespace wkv {

// Exit codes of the `wkv` program.
enum class ExitCode : int {
    ok = 0,
    bad_input = 2,  // usage errors, bad model/tokenizer/text files
    device = 3,     // Vulkan device errors
};

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message, ExitCode code = ExitCode::bad_input)
        : std::runtime_error(message), code_(code) {}
    ExitCode code() const { return code_; }

private:
    ExitCode code_;
};

// Throws an Error whose message starts with `subject` (a file path or a flag).
[[noreturn]] inline void fail(const std::string& subject, const std::string& problem,
                              ExitCode code = ExitCode::bad_input) {
    throw Error(subject + ": " + problem, code);
}

}  // namespace wkv
