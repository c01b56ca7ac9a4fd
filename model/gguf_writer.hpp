// Writes GGUF files: the random models of model/random_model.hpp and,
// through raw_metadata/override_last_offset, the hostile files the loader
// tests need.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mapped_file.hpp"

namespace wkv {

class GgufWriter {
public:
    uint32_t version = 3;
    uint32_t alignment = 32;

    void u16(const std::string& key, uint16_t v) {
        kv_header(key, 2);
        put(v);
    }
    void u32(const std::string& key, uint32_t v) {
        kv_header(key, 4);
        put(v);
    }
    void i32(const std::string& key, int32_t v) {
        kv_header(key, 5);
        put(v);
    }
    void f32(const std::string& key, float v) {
        kv_header(key, 6);
        put(v);
    }
    void str(const std::string& key, const std::string& v) {
        kv_header(key, 8);
        put_string(v);
    }
    void boolean(const std::string& key, bool v) {
        kv_header(key, 7);
        put(uint8_t{v});
    }
    void str_array(const std::string& key, const std::vector<std::string>& v) {
        kv_header(key, 9);
        put(uint32_t{8});
        put(uint64_t{v.size()});
        for (const auto& s : v) put_string(s);
    }
    void f32_array(const std::string& key, const std::vector<float>& v) {
        kv_header(key, 9);
        put(uint32_t{6});
        put(uint64_t{v.size()});
        for (float x : v) put(x);
    }
    void i32_array(const std::string& key, const std::vector<int32_t>& v) {
        kv_header(key, 9);
        put(uint32_t{5});
        put(uint64_t{v.size()});
        for (int32_t x : v) put(x);
    }
    // Raw bytes appended to the metadata section, counted as `pairs` pairs (for hostile files).
    void raw_metadata(const std::vector<uint8_t>& bytes, uint64_t pairs) {
        kv_.insert(kv_.end(), bytes.begin(), bytes.end());
        n_kv_ += pairs;
    }

    // dims fastest-varying first; data already in the ggml layout of `ggml_type`.
    void tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t ggml_type, std::vector<uint8_t> data) {
        tensors_.push_back({name, std::move(dims), ggml_type, std::move(data), UINT64_MAX});
    }
    // Forces the offset written for the last tensor (for hostile files).
    void override_last_offset(uint64_t offset) { tensors_.back().forced_offset = offset; }

    std::vector<uint8_t> bytes() const;

    // The GGUF file `file` as llama.cpp's gguf-split writes it in `count` parts
    // (model/gguf_split.hpp): its metadata and the split keys in the first, the
    // split keys alone in the others, the tensors in order, as evenly as whole
    // tensors allow. For tests and tools.
    static std::vector<std::vector<uint8_t>> split(const MappedFile& file, uint32_t count);

private:
    struct Tensor {
        std::string name;
        std::vector<uint64_t> dims;
        uint32_t type;
        std::vector<uint8_t> data;
        uint64_t forced_offset;
    };
    template <typename T>
    void put(T v) {
        append(kv_, v);
    }
    template <typename T>
    static void append(std::vector<uint8_t>& out, T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        out.insert(out.end(), p, p + sizeof(T));
    }
    static void append_string(std::vector<uint8_t>& out, const std::string& s) {
        append(out, uint64_t{s.size()});
        out.insert(out.end(), s.begin(), s.end());
    }
    void put_string(const std::string& s) { append_string(kv_, s); }
    void kv_header(const std::string& key, uint32_t type) {
        put_string(key);
        put(type);
        n_kv_++;
    }

    std::vector<uint8_t> kv_;
    uint64_t n_kv_ = 0;
    std::vector<Tensor> tensors_;
};

}  // namespace wkv
