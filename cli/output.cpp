#include "output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "error.hpp"

namespace wkv {

namespace {

namespace fs = std::filesystem;

// The file a path names once its symlinks are followed (up to 40, as the kernel allows).
std::string follow_links(const std::string& path) {
    fs::path p = path;
    for (int hops = 0;; hops++) {
        std::error_code ec;
        if (!fs::is_symlink(fs::symlink_status(p, ec))) return p.string();
        if (hops == 40) fail(path, "too many levels of symbolic links");
        const fs::path target = fs::read_symlink(p, ec);
        if (ec) fail(path, "cannot read the symbolic link: " + ec.message());
        p = target.is_absolute() ? target : p.parent_path() / target;
    }
}

std::string directory_of(const std::string& file) {
    const fs::path dir = fs::path(file).parent_path();
    return dir.empty() ? "." : dir.string();
}

// A new, empty file beside `target`; returns its descriptor and sets `name`. Created
// 0666 less the umask, as any file a program makes (mkstemp's 0600 would ignore it).
int create_temporary(const std::string& target, std::string& name) {
    static std::atomic<uint64_t> counter{0};
    for (int attempt = 0; attempt < 100; attempt++) {
        name = target + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

}  // namespace

OutputFile::OutputFile(std::string path, const std::string& flag)
    : path_(std::move(path)), target_(path_.empty() ? "" : follow_links(path_)) {
    if (path_.empty()) fail(flag, "the path is empty");
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode)) fail(path_, "is a directory");
        if (!S_ISREG(st.st_mode)) fail(path_, "is not a regular file (a device, FIFO or socket); name a file to write");
        if (::access(target_.c_str(), W_OK) != 0) fail(path_, std::string("cannot write: ") + std::strerror(errno));
    } else if (errno != ENOENT) {
        fail(path_, std::string("cannot write: ") + std::strerror(errno));
    }
    std::string probe;
    const int fd = create_temporary(target_, probe);
    if (fd < 0) fail(path_, "cannot create a file in " + directory_of(target_) + ": " + std::strerror(errno));
    ::close(fd);
    ::unlink(probe.c_str());
}

void OutputFile::write(const std::string& text) const {
    std::string temporary;
    const int fd = create_temporary(target_, temporary);
    if (fd < 0) fail(path_, "cannot create a file in " + directory_of(target_) + ": " + std::strerror(errno));
    // Keep an existing file's permissions.
    struct stat st {};
    if (::stat(target_.c_str(), &st) == 0) ::fchmod(fd, st.st_mode & 07777);
    auto give_up = [&](const char* what) {
        const std::string reason = std::string(what) + ": " + std::strerror(errno);
        ::close(fd);
        ::unlink(temporary.c_str());
        fail(path_, reason + " (nothing was written)");
    };
    size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            give_up("cannot write");
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) give_up("cannot write");
    if (::close(fd) != 0) {
        const std::string reason = std::string("cannot write: ") + std::strerror(errno);
        ::unlink(temporary.c_str());
        fail(path_, reason + " (nothing was written)");
    }
    if (::rename(temporary.c_str(), target_.c_str()) != 0) {
        const std::string reason = std::string("cannot write: ") + std::strerror(errno);
        ::unlink(temporary.c_str());
        fail(path_, reason + " (nothing was written)");
    }
}

void OutputFile::write(const nlohmann::json& doc) const {
    write(doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::string xml_escaped(const std::string& text) {
    std::string out;
    for (char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default:
                // XML 1.0 allows no control characters but tab and newlines.
                if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    out += "?";
                else
                    out += c;
        }
    }
    return out;
}

}  // namespace wkv
