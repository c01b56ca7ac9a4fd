#include "gguf.hpp"

#include <set>

#include "checked_math.hpp"
#include "error.hpp"

namespace wkv {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxTensorDims = 4;
constexpr uint32_t kMaxArrayDepth = 2;

std::string read_string(ByteReader& r, const char* what) {
    const uint64_t length = r.read<uint64_t>(what);
    const uint8_t* p = r.take(length, what);
    return std::string(reinterpret_cast<const char*>(p), length);
}

uint64_t scalar_size(GgufValueType t) {
    switch (t) {
        case GgufValueType::u8:
        case GgufValueType::i8:
        case GgufValueType::boolean: return 1;
        case GgufValueType::u16:
        case GgufValueType::i16: return 2;
        case GgufValueType::u32:
        case GgufValueType::i32:
        case GgufValueType::f32: return 4;
        case GgufValueType::u64:
        case GgufValueType::i64:
        case GgufValueType::f64: return 8;
        default: return 0;
    }
}

double read_number(ByteReader& r, GgufValueType t, const char* what) {
    switch (t) {
        case GgufValueType::u8: return r.read<uint8_t>(what);
        case GgufValueType::i8: return r.read<int8_t>(what);
        case GgufValueType::boolean: return r.read<uint8_t>(what) != 0;
        case GgufValueType::u16: return r.read<uint16_t>(what);
        case GgufValueType::i16: return r.read<int16_t>(what);
        case GgufValueType::u32: return r.read<uint32_t>(what);
        case GgufValueType::i32: return r.read<int32_t>(what);
        case GgufValueType::f32: return r.read<float>(what);
        case GgufValueType::u64: return static_cast<double>(r.read<uint64_t>(what));
        case GgufValueType::i64: return static_cast<double>(r.read<int64_t>(what));
        case GgufValueType::f64: return r.read<double>(what);
        default: return 0;
    }
}

GgufValue read_value(ByteReader& r, GgufValueType type, const std::string& key, uint32_t depth) {
    GgufValue v;
    v.type = type;
    if (type == GgufValueType::string) {
        v.text = read_string(r, "metadata string");
    } else if (type == GgufValueType::array) {
        const uint32_t raw = r.read<uint32_t>("array element type");
        if (raw > static_cast<uint32_t>(GgufValueType::f64)) {
            fail(r.path(), "metadata " + quoted(key) + " has an array of unknown type " + std::to_string(raw));
        }
        v.element_type = static_cast<GgufValueType>(raw);
        v.count = r.read<uint64_t>("array length");
        // Every element takes at least one byte (strings at least eight), so a
        // count larger than what is left of the file cannot be honest.
        const uint64_t min_bytes = v.element_type == GgufValueType::string  ? 8
                                   : v.element_type == GgufValueType::array ? 12
                                                                            : scalar_size(v.element_type);
        auto need = checked_mul(v.count, min_bytes);
        if (!need || *need > r.remaining()) {
            fail(r.path(), "truncated: metadata " + quoted(key) + " claims " + std::to_string(v.count) +
                               " array elements, more than the file holds");
        }
        if (v.element_type == GgufValueType::array) {
            if (depth >= kMaxArrayDepth) fail(r.path(), "metadata " + quoted(key) + " nests arrays too deeply");
            for (uint64_t i = 0; i < v.count; i++) read_value(r, GgufValueType::array, key, depth + 1);
        } else if (v.element_type == GgufValueType::string) {
            v.strings.reserve(v.count);
            for (uint64_t i = 0; i < v.count; i++) v.strings.push_back(read_string(r, "metadata string"));
        } else {
            v.numbers.reserve(v.count);
            for (uint64_t i = 0; i < v.count; i++) v.numbers.push_back(read_number(r, v.element_type, "array element"));
        }
    } else if (scalar_size(type) != 0) {
        v.number = read_number(r, type, "metadata value");
    } else {
        fail(r.path(),
             "metadata " + quoted(key) + " has unknown value type " + std::to_string(static_cast<uint32_t>(type)));
    }
    return v;
}

}  // namespace

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = metadata.find(key);
    return it == metadata.end() ? nullptr : &it->second;
}

bool is_gguf(const MappedFile& file) {
    uint32_t magic = 0;
    if (file.size() >= 4) std::memcpy(&magic, file.data(), 4);
    return magic == kGgufMagic;
}

GgufFile parse_gguf(const MappedFile& file) {
    ByteReader r(file.data(), file.size(), file.path());
    GgufFile g;
    if (r.read<uint32_t>("magic") != kGgufMagic) fail(file.path(), "not a GGUF file (bad magic)");
    g.version = r.read<uint32_t>("version");
    if (g.version != 2 && g.version != 3) {
        fail(file.path(), "unsupported GGUF version " + std::to_string(g.version) + " (2 and 3 are supported)");
    }
    const uint64_t n_tensors = r.read<uint64_t>("tensor count");
    const uint64_t n_kv = r.read<uint64_t>("metadata count");
    // A key/value pair takes at least 13 bytes and a tensor description at least 28.
    if (n_kv > r.remaining() / 13 || n_tensors > r.remaining() / 28) {
        fail(file.path(), "truncated: header claims " + std::to_string(n_kv) + " metadata pairs and " +
                              std::to_string(n_tensors) + " tensors, more than the file holds");
    }

    g.metadata_begin = r.offset();
    for (uint64_t i = 0; i < n_kv; i++) {
        std::string key = read_string(r, "metadata key");
        const uint32_t type = r.read<uint32_t>("metadata value type");
        if (g.metadata.count(key)) fail(file.path(), "metadata key " + quoted(key) + " appears twice");
        g.metadata[key] = read_value(r, static_cast<GgufValueType>(type), key, 0);
    }

    g.metadata_end = r.offset();
    std::set<std::string> names;
    g.tensors.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        GgufTensorInfo t;
        t.name = read_string(r, "tensor name");
        if (!names.insert(t.name).second) fail(file.path(), "tensor " + quoted(t.name) + " appears twice");
        const uint32_t n_dims = r.read<uint32_t>("tensor dimension count");
        if (n_dims == 0 || n_dims > kMaxTensorDims) {
            fail(file.path(),
                 "tensor " + quoted(t.name) + " has " + std::to_string(n_dims) + " dimensions (1..4 allowed)");
        }
        for (uint32_t d = 0; d < n_dims; d++) {
            const uint64_t size = r.read<uint64_t>("tensor dimension");
            if (size == 0) fail(file.path(), "tensor " + quoted(t.name) + " has a zero dimension");
            t.dims.push_back(size);
        }
        t.ggml_type = r.read<uint32_t>("tensor type");
        t.offset = r.read<uint64_t>("tensor offset");
        g.tensors.push_back(std::move(t));
    }

    uint64_t& alignment = g.alignment;
    if (const GgufValue* a = g.find("general.alignment")) {
        if (a->type != GgufValueType::u32) fail(file.path(), "general.alignment is not a u32");
        alignment = static_cast<uint64_t>(a->number);
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 20)) {
            fail(file.path(), "general.alignment " + std::to_string(alignment) + " is not a power of two up to 1 MiB");
        }
    }
    const uint64_t data_offset = (r.offset() + alignment - 1) / alignment * alignment;
    // A file without tensors (a vocabulary) may end before its aligned data section would start.
    if (!g.tensors.empty()) r.seek(data_offset, "tensor data");
    g.data_offset = data_offset;
    for (const GgufTensorInfo& t : g.tensors) {
        if (t.offset % alignment != 0) {
            fail(file.path(), "tensor " + quoted(t.name) + " offset " + std::to_string(t.offset) +
                                  " is not aligned to " + std::to_string(alignment));
        }
    }
    return g;
}

namespace {

bool is_integer_type(GgufValueType t) {
    switch (t) {
        case GgufValueType::u8:
        case GgufValueType::i8:
        case GgufValueType::u16:
        case GgufValueType::i16:
        case GgufValueType::u32:
        case GgufValueType::i32:
        case GgufValueType::u64:
        case GgufValueType::i64: return true;
        default: return false;
    }
}

}  // namespace

std::optional<uint32_t> GgufMetadata::u32(const std::string& key) const {
    const GgufValue* v = g_.find(key);
    if (!v) return std::nullopt;
    if (!is_integer_type(v->type) || v->number < 0 || v->number > 4294967295.0) {
        fail(path_, "metadata " + quoted(key) + " is not an unsigned 32-bit integer");
    }
    return static_cast<uint32_t>(v->number);
}

uint32_t GgufMetadata::required_u32(const std::string& key) const {
    auto v = u32(key);
    if (!v) fail(path_, "metadata " + quoted(key) + " is missing");
    return *v;
}

std::optional<float> GgufMetadata::f32(const std::string& key) const {
    const GgufValue* v = g_.find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::f32 && v->type != GgufValueType::f64)
        fail(path_, "metadata " + quoted(key) + " is not a float");
    return static_cast<float>(v->number);
}

std::optional<bool> GgufMetadata::boolean(const std::string& key) const {
    const GgufValue* v = g_.find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::boolean) fail(path_, "metadata " + quoted(key) + " is not a boolean");
    return v->number != 0;
}

std::optional<std::string> GgufMetadata::text(const std::string& key) const {
    const GgufValue* v = g_.find(key);
    if (!v) return std::nullopt;
    if (v->type != GgufValueType::string) fail(path_, "metadata " + quoted(key) + " is not a string");
    return v->text;
}

const std::vector<std::string>* GgufMetadata::strings(const std::string& key) const {
    const GgufValue* v = g_.find(key);
    if (!v) return nullptr;
    if (v->type != GgufValueType::array || v->element_type != GgufValueType::string) {
        fail(path_, "metadata " + quoted(key) + " is not an array of strings");
    }
    return &v->strings;
}

}  // namespace wkv
