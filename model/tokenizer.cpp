#include "tokenizer.hpp"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <queue>

#include "error.hpp"
#include "mapped_file.hpp"
#include "model.hpp"
#include "utf8_stream.hpp"

namespace wkv {

namespace {

constexpr int32_t kMaxPieceBytes = 1 << 16;
constexpr int32_t kMaxVocab = 1 << 20;

bool ends_with(const std::string& s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "<0x41>" -> 0x41; -1 for any other piece.
int byte_of_piece(const std::string& piece) {
    if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
    auto hex = [](char c) {
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                      : -1;
    };
    const int hi = hex(piece[3]), lo = hex(piece[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// llama2.c tokenizer.bin: int32 max_token_length, then per token a float32
// score, an int32 length and the bytes. The file does not store the count;
// the tokens run to the end of the file.
Vocabulary read_llama2c_vocabulary(const std::string& path) {
    MappedFile file(path);
    ByteReader r(file.data(), file.size(), path);
    const int32_t max_length = r.read<int32_t>("max_token_length");
    if (max_length <= 0 || max_length > kMaxPieceBytes) {
        fail(path, "max_token_length " + std::to_string(max_length) + " is out of range; not a llama2.c tokenizer.bin");
    }
    Vocabulary v;
    while (r.remaining() > 0) {
        if (v.size() >= kMaxVocab) fail(path, "more than " + std::to_string(kMaxVocab) + " tokens");
        const float score = r.read<float>("token score");
        const int32_t length = r.read<int32_t>("token length");
        if (length < 0 || length > max_length) {
            fail(path, "token " + std::to_string(v.size()) + " has length " + std::to_string(length) + ", outside 0.." +
                           std::to_string(max_length));
        }
        const uint8_t* bytes = r.take(static_cast<uint64_t>(length), "token bytes");
        if (!std::isfinite(score)) fail(path, "token " + std::to_string(v.size()) + " has a non-finite score");
        v.pieces.emplace_back(reinterpret_cast<const char*>(bytes), static_cast<size_t>(length));
        v.scores.push_back(score);
    }
    if (v.size() < 3) fail(path, "has " + std::to_string(v.size()) + " tokens; at least <unk>, <s>, </s> expected");
    // llama2.c's convention: 0 <unk>, 1 <s>, 2 </s>, byte pieces spelled <0xNN>.
    v.types.assign(v.pieces.size(), PieceType::normal);
    v.types[0] = PieceType::unknown;
    v.types[1] = v.types[2] = PieceType::control;
    for (size_t i = 3; i < v.pieces.size(); i++) {
        if (byte_of_piece(v.pieces[i]) >= 0) v.types[i] = PieceType::byte;
    }
    return v;
}

}  // namespace

Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
    Tokenizer t;
    t.source_ = path;
    if (!ends_with(path, ".model")) {
        t.vocab_ = read_llama2c_vocabulary(path);
        t.index_pieces();
        return t;
    }
    MappedFile probe(path);  // the same clear errors as every other file (missing, directory, empty)
    t.sp_ = std::make_unique<sentencepiece::SentencePieceProcessor>();
    const auto status = t.sp_->Load(path);
    if (!status.ok()) fail(path, "not a sentencepiece model (" + one_line(status.message()) + ")");
    const int n = t.sp_->GetPieceSize();
    if (n < 3 || n > kMaxVocab) fail(path, "has " + std::to_string(n) + " pieces");
    Vocabulary& v = t.vocab_;
    for (int i = 0; i < n; i++) {
        v.pieces.push_back(with_plain_spaces(t.sp_->IdToPiece(i)));
        v.scores.push_back(t.sp_->GetScore(i));
        v.types.push_back(t.sp_->IsUnknown(i)   ? PieceType::unknown
                          : t.sp_->IsControl(i) ? PieceType::control
                          : t.sp_->IsByte(i)    ? PieceType::byte
                          : t.sp_->IsUnused(i)  ? PieceType::unused
                                                : PieceType::normal);
    }
    v.bos_id = t.sp_->bos_id();
    v.eos_id = t.sp_->eos_id();
    v.unk_id = t.sp_->unk_id();
    if (v.bos_id < 0 || v.bos_id >= n) fail(path, "has no BOS piece");
    t.index_pieces();
    return t;
}

Tokenizer Tokenizer::from_vocabulary(Vocabulary vocabulary) {
    Tokenizer t;
    t.source_ = "embedded vocabulary";
    t.vocab_ = std::move(vocabulary);
    t.index_pieces();
    return t;
}

void Tokenizer::index_pieces() {
    byte_ids_.fill(vocab_.unk_id);
    const bool byte_level = vocab_.model == TokenizerModel::byte_level_bpe;
    for (int32_t id = 0; id < vocab_.size(); id++) {
        const PieceType type = vocab_.types[id];
        const std::string& piece = vocab_.pieces[id];
        if (type == PieceType::byte) {
            const int b = byte_of_piece(piece);
            if (b >= 0) byte_ids_[b] = id;
        } else if (byte_level || type == PieceType::normal || type == PieceType::user_defined) {
            piece_ids_.emplace(piece, id);  // first id wins for duplicate pieces
        }
        if (type == PieceType::user_defined && !piece.empty()) {
            user_defined_[static_cast<unsigned char>(piece[0])].emplace_back(piece, id);
        }
    }
    for (auto& list : user_defined_) {
        std::stable_sort(list.begin(), list.end(),
                         [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
    }
    if (byte_level) byte_level_ = std::make_unique<ByteLevelBpe>(vocab_);
}

std::vector<int32_t> Tokenizer::encode_prompt(std::string_view text) const {
    std::vector<int32_t> ids = encode(text, vocab_.add_bos);
    if (vocab_.add_eos) ids.push_back(vocab_.eos_id);
    return ids;
}

std::optional<int32_t> Tokenizer::find_piece(std::string_view piece) const {
    for (int32_t id = 0; id < vocab_.size(); id++) {
        if (vocab_.pieces[id] == piece) return id;
    }
    return std::nullopt;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool dummy_prefix) const {
    std::vector<int32_t> ids;
    if (add_bos) ids.push_back(vocab_.bos_id);
    if (text.empty()) return ids;
    if (sp_) {
        std::vector<int32_t> pieces;
        const auto status = sp_->Encode(text, &pieces);
        if (!status.ok()) fail(source_, "cannot encode text: " + one_line(status.message()));
        ids.insert(ids.end(), pieces.begin(), pieces.end());
        return ids;
    }
    // The text between user-defined tokens goes through the tokenizer; each such
    // token's text is the token. As in llama.cpp, text after one starts afresh
    // (sentencepiece's dummy prefix again).
    dummy_prefix = dummy_prefix && vocab_.add_space_prefix;
    size_t plain = 0;  // start of the text not yet encoded
    for (size_t at = 0; at < text.size();) {
        const std::pair<std::string, int32_t>* found = nullptr;
        for (const auto& candidate : user_defined_[static_cast<unsigned char>(text[at])]) {
            if (text.substr(at, candidate.first.size()) == candidate.first) {
                found = &candidate;
                break;
            }
        }
        if (!found) {
            at++;
            continue;
        }
        if (at > plain) encode_plain(text.substr(plain, at - plain), dummy_prefix, ids);
        ids.push_back(found->second);
        at = plain = at + found->first.size();
        dummy_prefix = vocab_.add_space_prefix;
    }
    if (plain < text.size()) encode_plain(text.substr(plain), dummy_prefix, ids);
    return ids;
}

void Tokenizer::encode_plain(std::string_view text, bool dummy_prefix, std::vector<int32_t>& ids) const {
    if (byte_level_) {
        byte_level_->encode(valid_utf8(text), piece_ids_,
                            ids);  // bytes that are not UTF-8 become U+FFFD, as llama.cpp reads them
        return;
    }
    const std::vector<int32_t> pieces = encode_bpe(text, dummy_prefix);
    ids.insert(ids.end(), pieces.begin(), pieces.end());
}

std::string Tokenizer::normalize(std::string_view text) {
    auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    auto continuation = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        // The length of a valid UTF-8 character at i (shortest form, no
        // surrogates, at most U+10FFFF), or 0 for an invalid byte.
        const uint8_t b = byte(i);
        size_t len = 0;
        if (b < 0x80) {
            len = 1;
        } else if (b >= 0xC2 && b <= 0xDF) {
            len = continuation(i + 1) ? 2 : 0;
        } else if (b >= 0xE0 && b <= 0xEF) {
            const uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
            len = i + 1 < text.size() && byte(i + 1) >= lo && byte(i + 1) <= hi && continuation(i + 2) ? 3 : 0;
        } else if (b >= 0xF0 && b <= 0xF4) {
            const uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
            len = i + 1 < text.size() && byte(i + 1) >= lo && byte(i + 1) <= hi && continuation(i + 2) &&
                          continuation(i + 3)
                      ? 4
                      : 0;
        }
        if (len == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD, one per invalid byte
            i++;
        } else if (text.substr(i, len) == "\xE2\x96\x81") {
            out += ' ';
            i += len;
        } else {
            out += text.substr(i, len);
            i += len;
        }
    }
    return out;
}

std::vector<int32_t> Tokenizer::encode_bpe(std::string_view text, bool dummy_prefix) const {
    struct Symbol {
        int32_t id;
        int32_t prev, next;  // neighbours in the list, -1 at the ends
    };
    std::vector<Symbol> symbols;

    // 1. Characters (a byte and its UTF-8 continuation bytes, at most 4) after
    //    the dummy-prefix space; unknown characters fall back to byte pieces.
    const std::string prefixed = (dummy_prefix ? " " : "") + normalize(text);
    for (size_t i = 0; i < prefixed.size();) {
        size_t len = 1;
        while (i + len < prefixed.size() && len < 4 && (static_cast<uint8_t>(prefixed[i + len]) & 0xC0) == 0x80) len++;
        auto it = piece_ids_.find(prefixed.substr(i, len));
        if (it != piece_ids_.end()) {
            symbols.push_back({it->second, 0, 0});
        } else {
            for (size_t b = 0; b < len; b++)
                symbols.push_back({byte_ids_[static_cast<uint8_t>(prefixed[i + b])], 0, 0});
        }
        i += len;
    }
    const int32_t n = static_cast<int32_t>(symbols.size());
    for (int32_t i = 0; i < n; i++) {
        symbols[i].prev = i - 1;
        symbols[i].next = i + 1 < n ? i + 1 : -1;
    }

    // 2. Merges, best score first and leftmost among equal scores. A queued
    //    pair is stale once either side has changed; it is skipped when popped.
    struct Candidate {
        float score;
        int32_t left, right, left_id, right_id, merged_id;
        bool operator<(const Candidate& o) const {  // the priority queue pops the "largest"
            return score != o.score ? score < o.score : left > o.left;
        }
    };
    std::priority_queue<Candidate> queue;
    auto consider = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = symbols[left].next;
        if (right < 0) return;
        const int32_t a = symbols[left].id, b = symbols[right].id;
        auto it = piece_ids_.find(vocab_.pieces[a] + vocab_.pieces[b]);
        if (it != piece_ids_.end()) queue.push({vocab_.scores[it->second], left, right, a, b, it->second});
    };
    for (int32_t i = 0; i < n; i++) consider(i);
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& left = symbols[c.left];
        if (left.id != c.left_id || left.next != c.right || symbols[c.right].id != c.right_id) continue;
        left.id = c.merged_id;
        left.next = symbols[c.right].next;
        if (left.next >= 0) symbols[left.next].prev = c.left;
        symbols[c.right].id = -1;  // gone
        consider(left.prev);
        consider(c.left);
    }

    std::vector<int32_t> ids;
    for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
    return ids;
}

std::string Tokenizer::decode_piece(int32_t prev, int32_t id) const {
    if (id < 0 || id >= vocab_.size()) return {};
    switch (vocab_.types[id]) {
        case PieceType::control:
        case PieceType::unused: return {};
        case PieceType::user_defined: return vocab_.pieces[id];  // its text, as it was written
        case PieceType::byte: {
            // A vocabulary without a plain space piece spells the dummy prefix as <0x20>.
            const int b = byte_of_piece(vocab_.pieces[id]);
            const bool prefix = b == ' ' && prev == vocab_.bos_id && vocab_.add_space_prefix;
            return b < 0 || prefix ? std::string() : std::string(1, static_cast<char>(b));
        }
        default: break;
    }
    const std::string& piece = vocab_.pieces[id];
    if (byte_level_) return ByteLevelBpe::piece_bytes(piece);  // no dummy prefix to take away
    if (prev == vocab_.bos_id && vocab_.add_space_prefix && !piece.empty() && piece[0] == ' ') return piece.substr(1);
    return piece;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
    std::string text;
    int32_t prev = vocab_.bos_id;
    for (int32_t id : ids) {
        text += decode_piece(prev, id);
        prev = id;
    }
    return text;
}

Tokenizer tokenizer_for(const Model& model, const std::string& tokenizer_path) {
    Tokenizer tokenizer = [&] {
        if (!tokenizer_path.empty()) return Tokenizer::load(tokenizer_path);
        if (model.vocabulary) return Tokenizer::from_vocabulary(*model.vocabulary);
        if (!model.embedded_tokenizer_kind.empty()) {
            fail(model.path, "embeds a " + wkv::quoted(model.embedded_tokenizer_kind) +
                                 " tokenizer, which wkv does not support; pass -t TOKENIZER");
        }
        fail(model.path, "has no embedded vocabulary; pass -t TOKENIZER");
    }();
    if (static_cast<uint32_t>(tokenizer.vocab_size()) != model.config.vocab_size) {
        fail(tokenizer.source(), "has " + std::to_string(tokenizer.vocab_size()) + " tokens but " + model.path +
                                     " has a vocabulary of " + std::to_string(model.config.vocab_size));
    }
    return tokenizer;
}

}  // namespace wkv
