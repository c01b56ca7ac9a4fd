// Command-line flags: each command declares its flags; parsing rejects
// unknown flags, missing values and stray arguments, and the typed getters
// reject malformed or out-of-range values, all as usage errors (exit code 2)
// that name the flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace wkv {

struct FlagSpec {
    std::string long_name;   // "--model"
    std::string short_name;  // "-m", or ""
    std::string value_name;  // "PATH"; "" for a switch that takes no value
    std::string help;
    bool repeatable = false;  // may be given several times (texts() returns them all)
};

struct CommandSpec {
    std::string name;     // "generate"
    std::string brief;    // one sentence, for 'wkv --help'
    std::string summary;  // what it does, for 'wkv COMMAND --help'
    std::vector<FlagSpec> flags;
    std::string operand = "";  // the flag a bare word gives ("--hf-repo": wkv pull USER/REPO), or ""
};

std::string usage_text(const CommandSpec& command);

inline std::vector<FlagSpec> join_flags(std::vector<FlagSpec> a, const std::vector<FlagSpec>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

class Args {
public:
    // argv excludes the program and command names.
    Args(const CommandSpec& command, const std::vector<std::string>& argv);

    bool has(const std::string& long_name) const { return values_.count(long_name) > 0; }
    std::string text(const std::string& long_name, const std::string& fallback = "") const;
    std::vector<std::string> texts(const std::string& long_name) const;  // every value of a repeatable flag
    std::string required_text(const std::string& long_name) const;
    int64_t integer(const std::string& long_name, int64_t fallback, int64_t min, int64_t max) const;
    uint64_t unsigned_integer(const std::string& long_name, uint64_t fallback) const;
    // A comma-separated value, split: no entry may be empty (",a", "a,", "a,,b") or repeated,
    // and entries are taken as written (" b" is not "b").
    std::vector<std::string> list(const std::string& long_name, const std::string& fallback) const;
    std::vector<int64_t> integer_list(const std::string& long_name, int64_t min,
                                      int64_t max) const;  // empty if not given
    double number(const std::string& long_name, double fallback, double min, double max) const;

private:
    [[noreturn]] void usage_error(const std::string& problem) const;
    const FlagSpec& spec(const std::string& long_name) const;

    const CommandSpec& command_;
    std::map<std::string, std::vector<std::string>> values_;  // long name -> values ("" for switches)
};

}  // namespace wkv
