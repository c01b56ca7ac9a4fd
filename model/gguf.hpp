// A reader of the GGUF container (versions 2 and 3): metadata key/values and
// tensor descriptions, every count, length and offset checked against the
// file. It knows nothing about Llama; model.cpp reads a llama model from it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mapped_file.hpp"

namespace wkv {

enum class GgufValueType : uint32_t {
    u8 = 0,
    i8 = 1,
    u16 = 2,
    i16 = 3,
    u32 = 4,
    i32 = 5,
    f32 = 6,
    boolean = 7,
    string = 8,
    array = 9,
    u64 = 10,
    i64 = 11,
    f64 = 12,
};

struct GgufValue {
    GgufValueType type = GgufValueType::u8;
    double number = 0;                               // any numeric or boolean scalar
    std::string text;                                // string
    GgufValueType element_type = GgufValueType::u8;  // array
    std::vector<double> numbers;                     // array of numbers
    std::vector<std::string> strings;                // array of strings
    uint64_t count = 0;                              // array length
};

struct GgufTensorInfo {
    std::string name;
    std::vector<uint64_t> dims;  // fastest-varying first, as GGUF stores them
    uint32_t ggml_type = 0;
    uint64_t offset = 0;  // from the start of the data section
};

struct GgufFile {
    uint32_t version = 0;
    std::map<std::string, GgufValue> metadata;
    std::vector<GgufTensorInfo> tensors;
    uint64_t data_offset = 0;                       // absolute offset of the aligned data section
    uint64_t metadata_begin = 0, metadata_end = 0;  // where the key/value pairs lie (for tools that copy them)
    uint64_t alignment = 32;

    const GgufValue* find(const std::string& key) const;
};

bool is_gguf(const MappedFile& file);

// Parses the header, metadata and tensor table. Tensor data is not read here.
GgufFile parse_gguf(const MappedFile& file);

// Typed reads of a file's metadata: nothing when a key is absent, an error
// naming the file and the key when its value has another type.
class GgufMetadata {
public:
    GgufMetadata(const GgufFile& g, const std::string& path) : g_(g), path_(path) {}

    std::optional<uint32_t> u32(const std::string& key) const;
    uint32_t required_u32(const std::string& key) const;
    std::optional<float> f32(const std::string& key) const;
    std::optional<bool> boolean(const std::string& key) const;
    std::optional<std::string> text(const std::string& key) const;
    // An array of strings (tokenizer.ggml.tokens, .merges).
    const std::vector<std::string>* strings(const std::string& key) const;

private:
    const GgufFile& g_;
    const std::string& path_;
};

}  // namespace wkv
