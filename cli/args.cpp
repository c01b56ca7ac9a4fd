#include "args.hpp"

#include <charconv>
#include <cmath>

#include "error.hpp"

namespace wkv {

std::string usage_text(const CommandSpec& command) {
    std::string operand;  // "USER/REPO[:QUANT] " for wkv pull
    for (const FlagSpec& f : command.flags)
        if (f.long_name == command.operand) operand = f.value_name + " ";
    std::string out = "usage: wkv " + command.name + " " + operand + "[flags]\n\n" + command.summary + "\n\nflags:\n";
    for (const FlagSpec& f : command.flags) {
        std::string left = "  " + (f.short_name.empty() ? "    " : f.short_name + ", ") + f.long_name;
        if (!f.value_name.empty()) left += " " + f.value_name;
        if (left.size() < 28)
            left.resize(28, ' ');
        else
            left += "\n" + std::string(28, ' ');
        out += left + f.help + "\n";
    }
    return out;
}

Args::Args(const CommandSpec& command, const std::vector<std::string>& argv) : command_(command) {
    for (size_t i = 0; i < argv.size(); i++) {
        std::string word = argv[i];
        std::optional<std::string> inline_value;
        if (word.rfind("--", 0) == 0) {
            if (const size_t eq = word.find('='); eq != std::string::npos) {
                inline_value = word.substr(eq + 1);
                word = word.substr(0, eq);
            }
        }
        const FlagSpec* found = nullptr;
        for (const FlagSpec& f : command.flags) {
            if (word == f.long_name || (!f.short_name.empty() && word == f.short_name)) found = &f;
        }
        if (!found && !command.operand.empty() && word.rfind('-', 0) != 0 && !values_.count(command.operand)) {
            values_[command.operand].push_back(word);
            continue;
        }
        if (!found) {
            usage_error(word.rfind('-', 0) == 0 ? "unknown flag " + quoted(word)
                                                : "unexpected argument " + quoted(word));
        }
        if (values_.count(found->long_name) && !found->repeatable)
            usage_error("flag " + found->long_name + " given twice");
        std::vector<std::string>& values = values_[found->long_name];
        if (found->value_name.empty()) {
            if (inline_value) usage_error("flag " + found->long_name + " takes no value");
            values.push_back("");
        } else if (inline_value) {
            values.push_back(*inline_value);
        } else {
            if (i + 1 >= argv.size()) usage_error("flag " + word + " needs a value (" + found->value_name + ")");
            values.push_back(argv[++i]);
        }
    }
}

void Args::usage_error(const std::string& problem) const {
    throw Error(command_.name + ": " + problem + " (see 'wkv " + command_.name + " --help')");
}

const FlagSpec& Args::spec(const std::string& long_name) const {
    for (const FlagSpec& f : command_.flags) {
        if (f.long_name == long_name) return f;
    }
    throw std::logic_error("flag not declared: " + long_name);
}

std::string Args::text(const std::string& long_name, const std::string& fallback) const {
    spec(long_name);
    auto it = values_.find(long_name);
    return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Args::texts(const std::string& long_name) const {
    spec(long_name);
    auto it = values_.find(long_name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::required_text(const std::string& long_name) const {
    if (!has(long_name)) usage_error("flag " + long_name + " is required");
    const std::string value = text(long_name);
    if (value.empty()) usage_error("flag " + long_name + " needs a non-empty value");
    return value;
}

int64_t Args::integer(const std::string& long_name, int64_t fallback, int64_t min, int64_t max) const {
    if (!has(long_name)) return fallback;
    const std::string& s = values_.at(long_name).back();
    int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
        usage_error(long_name + " expects an integer, got " + quoted(s));
    }
    if (value < min || value > max) {
        usage_error(long_name + " = " + s + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) +
                    ")");
    }
    return value;
}

std::vector<std::string> Args::list(const std::string& long_name, const std::string& fallback) const {
    const std::string text = has(long_name) ? values_.at(long_name).back() : fallback;
    std::vector<std::string> items;
    size_t begin = 0;
    while (true) {
        const size_t comma = text.find(',', begin);
        const std::string item = text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
        if (item.empty()) usage_error(long_name + " " + quoted(text) + " has an empty entry");
        for (const std::string& seen : items) {
            if (seen == item) usage_error(long_name + " " + quoted(text) + " names " + quoted(item) + " twice");
        }
        items.push_back(item);
        if (comma == std::string::npos) return items;
        begin = comma + 1;
    }
}

std::vector<int64_t> Args::integer_list(const std::string& long_name, int64_t min, int64_t max) const {
    std::vector<int64_t> out;
    if (!has(long_name)) return out;
    for (const std::string& s : list(long_name, "")) {
        int64_t value = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
        if (ec != std::errc() || end != s.data() + s.size()) {
            usage_error(long_name + " " + quoted(values_.at(long_name).back()) +
                        " is not a comma-separated list of integers (" + quoted(s) + ")");
        }
        if (value < min || value > max) {
            usage_error(long_name + " entry " + s + " is out of range (" + std::to_string(min) + ".." +
                        std::to_string(max) + ")");
        }
        out.push_back(value);
    }
    return out;
}

uint64_t Args::unsigned_integer(const std::string& long_name, uint64_t fallback) const {
    if (!has(long_name)) return fallback;
    const std::string& s = values_.at(long_name).back();
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
        usage_error(long_name + " expects a non-negative integer, got " + quoted(s));
    }
    return value;
}

double Args::number(const std::string& long_name, double fallback, double min, double max) const {
    if (!has(long_name)) return fallback;
    const std::string& s = values_.at(long_name).back();
    double value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty() || !std::isfinite(value)) {
        usage_error(long_name + " expects a number, got " + quoted(s));
    }
    if (value < min || value > max) {
        usage_error(long_name + " = " + s + " is out of range (" + std::to_string(min) + ".." + std::to_string(max) +
                    ")");
    }
    return value;
}

}  // namespace wkv
