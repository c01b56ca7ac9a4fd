#include "byte_level_bpe.hpp"

#include <array>
#include <queue>

#include "error.hpp"

namespace wkv {

namespace {

void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// GPT-2's printable stand-in for every byte: bytes that print as Latin-1 stand
// for themselves; the rest (controls, space, DEL, NBSP, the soft hyphen) take
// U+0100, U+0101, ... in byte order.
const std::array<std::string, 256>& byte_characters() {
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        uint32_t next = 256;
        for (uint32_t b = 0; b < 256; b++) {
            const bool prints = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            append_utf8(t[b], prints ? b : next++);
        }
        return t;
    }();
    return table;
}

// The other way: each stand-in's UTF-8 text to its byte.
const std::unordered_map<std::string, char>& character_bytes() {
    static const std::unordered_map<std::string, char> table = [] {
        std::unordered_map<std::string, char> t;
        for (uint32_t b = 0; b < 256; b++) t.emplace(byte_characters()[b], static_cast<char>(b));
        return t;
    }();
    return table;
}

size_t utf8_length(char lead) {
    const auto c = static_cast<unsigned char>(lead);
    return c < 0x80 ? 1 : c >> 5 == 0x6 ? 2 : c >> 4 == 0xE ? 3 : c >> 3 == 0x1E ? 4 : 1;
}

}  // namespace

ByteLevelBpe::ByteLevelBpe(const Vocabulary& vocabulary) : pre_(std::make_shared<const PreTokenizer>(vocabulary.pre)) {
    merge_rank_.reserve(vocabulary.merges.size());
    for (size_t i = 0; i < vocabulary.merges.size(); i++) {
        merge_rank_.emplace(vocabulary.merges[i], static_cast<int32_t>(i));  // a repeated pair keeps its first rank
    }
}

void ByteLevelBpe::encode(std::string_view text, const PieceIds& piece_ids, std::vector<int32_t>& out) const {
    for (std::string_view piece : pre_->split(text)) {
        std::string word;
        for (char c : piece) word += byte_characters()[static_cast<unsigned char>(c)];
        encode_word(word, piece_ids, out);
    }
}

void ByteLevelBpe::encode_word(const std::string& word, const PieceIds& piece_ids, std::vector<int32_t>& out) const {
    if (pre_->whole_words_first()) {
        if (auto it = piece_ids.find(word); it != piece_ids.end()) {
            out.push_back(it->second);
            return;
        }
    }
    // The word's symbols, a character each to begin with, as a linked list.
    struct Symbol {
        size_t start, size;
        int prev, next;
    };
    std::vector<Symbol> symbols;
    for (size_t at = 0; at < word.size();) {
        const size_t n = std::min(utf8_length(word[at]), word.size() - at);
        const int i = static_cast<int>(symbols.size());
        symbols.push_back({at, n, i - 1, at + n < word.size() ? i + 1 : -1});
        at += n;
    }
    // Adjacent pairs that a merge joins, the earliest merge first, the leftmost on a tie.
    struct Pair {
        int32_t rank;
        int left, right;
        size_t size;  // of both symbols when queued: a pair whose symbols have grown since is stale
        bool operator<(const Pair& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Pair> queue;
    auto consider = [&](int left, int right) {
        if (left < 0 || right < 0) return;
        const Symbol &a = symbols[left], &b = symbols[right];
        const auto it = merge_rank_.find(word.substr(a.start, a.size) + " " + word.substr(b.start, b.size));
        if (it != merge_rank_.end()) queue.push({it->second, left, right, a.size + b.size});
    };
    for (size_t i = 1; i < symbols.size(); i++) consider(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
        const Pair p = queue.top();
        queue.pop();
        Symbol &a = symbols[p.left], &b = symbols[p.right];
        if (a.size == 0 || b.size == 0 || a.next != p.right || a.size + b.size != p.size) continue;
        a.size += b.size;
        b.size = 0;
        a.next = b.next;
        if (b.next >= 0) symbols[b.next].prev = p.left;
        consider(a.prev, p.left);
        consider(p.left, a.next);
    }
    for (int i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
        const std::string text = word.substr(symbols[i].start, symbols[i].size);
        if (auto it = piece_ids.find(text); it != piece_ids.end()) {
            out.push_back(it->second);
            continue;
        }
        // A symbol the vocabulary lacks (a vocabulary without every byte): its bytes one by one, where they are tokens.
        for (char c : text) {
            if (auto byte = piece_ids.find(std::string(1, c)); byte != piece_ids.end()) out.push_back(byte->second);
        }
    }
}

std::string ByteLevelBpe::piece_bytes(std::string_view piece) {
    std::string out;
    for (size_t at = 0; at < piece.size();) {
        const size_t n = std::min(utf8_length(piece[at]), piece.size() - at);
        const std::string character(piece.substr(at, n));
        const auto it = character_bytes().find(character);
        if (it != character_bytes().end()) {
            out += it->second;
        } else {
            out += character;  // not a stand-in: the character itself
        }
        at += n;
    }
    return out;
}

}  // namespace wkv
