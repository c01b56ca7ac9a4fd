#include "mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "error.hpp"

namespace wkv {

MappedFile::MappedFile(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        int err = errno;
        ::close(fd);
        fail(path, std::string("cannot stat: ") + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ == 0) {
        ::close(fd);
        fail(path, "file is empty");
    }
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) fail(path, std::string("cannot map: ") + std::strerror(err));
    data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
    if (this != &other) {
        if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
        path_ = std::move(other.path_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void ByteReader::require(uint64_t n, std::string_view what) const {
    if (n > remaining()) {
        fail(path_, "truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes at offset " +
                        std::to_string(offset_) + " but only " + std::to_string(remaining()) + " remain");
    }
}

const uint8_t* ByteReader::take(uint64_t n, std::string_view what) {
    require(n, what);
    const uint8_t* p = begin_ + offset_;
    offset_ += n;
    return p;
}

void ByteReader::seek(uint64_t offset, std::string_view what) {
    if (offset > size_) {
        fail(path_, "truncated: " + std::string(what) + " starts at offset " + std::to_string(offset) +
                        ", past the end of the file (" + std::to_string(size_) + " bytes)");
    }
    offset_ = offset;
}

}  // namespace wkv
