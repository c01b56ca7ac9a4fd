// A read-only memory mapping of a whole file (RAII), and a cursor that reads
// little-endian values from it with a bounds check on every read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace wkv {

class MappedFile {
public:
    MappedFile() = default;
    explicit MappedFile(const std::string& path);  // throws wkv::Error
    ~MappedFile();
    MappedFile(MappedFile&& other) noexcept;
    MappedFile& operator=(MappedFile&& other) noexcept;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const { return size_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    uint64_t size_ = 0;
};

// Sequential reader over [begin, begin + size). All reads copy with memcpy, so
// no value is ever read through a misaligned pointer.
class ByteReader {
public:
    ByteReader(const uint8_t* begin, uint64_t size, std::string path)
        : begin_(begin), size_(size), path_(std::move(path)) {}

    uint64_t offset() const { return offset_; }
    uint64_t remaining() const { return size_ - offset_; }
    const std::string& path() const { return path_; }

    // Throws "PATH: truncated: ..." unless n more bytes can be read.
    void require(uint64_t n, std::string_view what) const;
    const uint8_t* take(uint64_t n, std::string_view what);  // advance, return the start
    void seek(uint64_t offset, std::string_view what);

    template <typename T>
    T read(std::string_view what) {
        T value;
        std::memcpy(&value, take(sizeof(T), what), sizeof(T));
        return value;
    }

private:
    const uint8_t* begin_;
    uint64_t size_;
    uint64_t offset_ = 0;
    std::string path_;
};

}  // namespace wkv
