// A small JSON reader for test expectations (the reference files in
// ../shared/models and the output of `wkv ... --json`). Strict enough to
// reject malformed documents; not fast, not meant for production input.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace wkv::test {

struct Json {
    enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<Json> array;
    std::map<std::string, Json> object;

    const Json& operator[](const std::string& key) const {
        auto it = object.find(key);
        if (kind != Kind::object || it == object.end()) throw std::runtime_error("json: no key '" + key + "'");
        return it->second;
    }
    bool has(const std::string& key) const { return kind == Kind::object && object.count(key); }
    std::vector<double> numbers() const {
        std::vector<double> out;
        for (const Json& v : array) out.push_back(v.number);
        return out;
    }
};

class JsonParser {
public:
    explicit JsonParser(const std::string& text) : s_(text) {}
    Json parse() {
        Json v = value();
        skip_space();
        if (i_ != s_.size()) error("trailing characters");
        return v;
    }

private:
    [[noreturn]] void error(const std::string& what) { throw std::runtime_error("json: " + what + " at " + std::to_string(i_)); }
    void skip_space() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) i_++;
    }
    bool consume(char c) {
        skip_space();
        if (i_ < s_.size() && s_[i_] == c) {
            i_++;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!consume(c)) error(std::string("expected '") + c + "'");
    }
    std::string string_literal() {
        expect('"');
        std::string out;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size()) error("bad escape");
            const char e = s_[i_++];
            switch (e) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'u': {
                    if (i_ + 4 > s_.size()) error("bad \\u escape");
                    unsigned cp = std::stoul(s_.substr(i_, 4), nullptr, 16);
                    i_ += 4;
                    if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
                        const unsigned lo = std::stoul(s_.substr(i_ + 2, 4), nullptr, 16);
                        i_ += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    if (cp < 0x80) out += static_cast<char>(cp);
                    else if (cp < 0x800) out += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
                    else if (cp < 0x10000) out += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
                    else out += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
                    break;
                }
                default: out += e;
            }
        }
        if (i_ >= s_.size()) error("unterminated string");
        i_++;
        return out;
    }
    Json value() {
        skip_space();
        if (i_ >= s_.size()) error("unexpected end");
        Json v;
        const char c = s_[i_];
        if (c == '{') {
            i_++;
            v.kind = Json::Kind::object;
            if (consume('}')) return v;
            do {
                skip_space();
                std::string key = string_literal();
                expect(':');
                v.object[key] = value();
            } while (consume(','));
            expect('}');
        } else if (c == '[') {
            i_++;
            v.kind = Json::Kind::array;
            if (consume(']')) return v;
            do v.array.push_back(value());
            while (consume(','));
            expect(']');
        } else if (c == '"') {
            v.kind = Json::Kind::string;
            v.string = string_literal();
        } else if (s_.compare(i_, 4, "true") == 0 || s_.compare(i_, 5, "false") == 0) {
            v.kind = Json::Kind::boolean;
            v.boolean = s_[i_] == 't';
            i_ += v.boolean ? 4 : 5;
        } else if (s_.compare(i_, 4, "null") == 0) {
            i_ += 4;
        } else {
            char* end = nullptr;
            v.kind = Json::Kind::number;
            v.number = std::strtod(s_.c_str() + i_, &end);
            if (end == s_.c_str() + i_) error("bad value");
            i_ = static_cast<size_t>(end - s_.c_str());
        }
        return v;
    }

    const std::string& s_;
    size_t i_ = 0;
};

inline Json parse_json(const std::string& text) { return JsonParser(text).parse(); }

}  // namespace wkv::test
