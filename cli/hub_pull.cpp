#include "hub_pull.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>

#include "hub_cache.hpp"
#include "progress.hpp"
#include "runtime/memory_plan.hpp"

namespace wkv {

namespace fs = std::filesystem;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// HF_ENDPOINT without its trailing '/', default the Hub.
std::string hub_endpoint() {
    std::string endpoint = env("HF_ENDPOINT");
    if (endpoint.empty()) return "https://huggingface.co";
    static const std::regex url(R"(https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?)");
    if (endpoint.size() > 200 || !std::regex_match(endpoint, url))
        throw Error("HF_ENDPOINT=" + wkv::quoted(endpoint) + " is not an http(s) URL such as https://huggingface.co");
    while (endpoint.back() == '/') endpoint.pop_back();
    return endpoint;
}

// HF_TOKEN, else the token file the Hub's client saves at login; never printed.
std::string hub_token() {
    std::string token = env("HF_TOKEN");
    std::string source = "HF_TOKEN";
    if (token.empty()) {
        const std::string home = env("HF_HOME");
        const fs::path file = !home.empty()          ? fs::path(home) / "token"
                              : !env("HOME").empty() ? fs::path(env("HOME")) / ".cache" / "huggingface" / "token"
                                                     : fs::path();
        std::ifstream in(file);
        if (file.empty() || !in) return "";
        token.resize(1024);
        in.read(token.data(), static_cast<std::streamsize>(token.size()));
        token.resize(static_cast<size_t>(in.gcount()));
        while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
        source = file.string();
    }
    // It goes into a header line: a control character or a space would forge another.
    for (char c : token)
        if (c < 0x21 || c > 0x7e || token.size() > 512)
            fail(source, "does not hold a token (printable ASCII, no spaces, at most 512 characters)");
    return token;
}

struct HubFile {
    std::string name, sha256;
    uint64_t bytes = 0;
};
struct HubRevision {
    std::string commit;
    std::vector<HubFile> gguf_files;
};

// A repository file name wkv will create under snapshots/: relative, no "." or ".." parts, and
// only characters a URL needs no escaping for.
bool safe_file_name(const std::string& name) {
    static const std::regex ok(R"([A-Za-z0-9._+\-]+(/[A-Za-z0-9._+\-]+)*)");
    if (name.size() > 255 || !std::regex_match(name, ok)) return false;
    const fs::path p(name);
    for (const fs::path& part : p)
        if (part == "." || part == "..") return false;
    return true;
}

bool lower_ends_with(const std::string& s, const std::string& suffix) {
    if (s.size() < suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); i++)
        if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
    return true;
}

// The repository's main revision and its GGUF files, from the Hub's API (with blobs=true, which
// adds each LFS file's size and SHA-256).
HubRevision fetch_revision(HttpClient& http, const std::string& endpoint, const std::string& repo) {
    const std::string url = endpoint + "/api/models/" + repo + "/revision/main?blobs=true";
    const HttpReply reply = http.get(url, 16 << 20, repo);
    if (reply.status == 401)
        fail(repo,
             "HTTP 401 from " + endpoint + ": a gated or private repository; set HF_TOKEN to a token that may read it");
    if (reply.status == 403) fail(repo, "HTTP 403 from " + endpoint + ": the token may not read this repository");
    if (reply.status == 404) fail(repo, "no such repository on " + endpoint + " (HTTP 404)");
    if (reply.status != 200) fail(repo, "HTTP " + std::to_string(reply.status) + " from " + url);
    const nlohmann::json doc = nlohmann::json::parse(reply.body, nullptr, false);
    const auto bad = [&](const std::string& what) -> void { fail(url, "not the Hub's model info: " + what); };
    if (doc.is_discarded() || !doc.is_object()) bad("not a JSON object");
    static const std::regex commit("[0-9a-f]{40}"), sha256("[0-9a-f]{64}");
    HubRevision rev;
    if (!doc.contains("sha") || !doc["sha"].is_string() ||
        !std::regex_match(rev.commit = doc["sha"].get<std::string>(), commit))
        bad("no commit (\"sha\", 40 hexadecimal digits)");
    if (!doc.contains("siblings") || !doc["siblings"].is_array()) bad("no file list (\"siblings\")");
    for (const nlohmann::json& f : doc["siblings"]) {
        if (!f.is_object() || !f.contains("rfilename") || !f["rfilename"].is_string()) bad("a file without a name");
        const std::string name = f["rfilename"].get<std::string>();
        if (!lower_ends_with(name, ".gguf")) continue;
        if (!safe_file_name(name)) fail(url, "lists the file " + wkv::quoted(name) + ", a name wkv does not fetch");
        const nlohmann::json* lfs = f.contains("lfs") && f["lfs"].is_object() ? &f["lfs"] : nullptr;
        if (!lfs || !lfs->contains("sha256") || !(*lfs)["sha256"].is_string() || !lfs->contains("size") ||
            !(*lfs)["size"].is_number_unsigned())
            fail(url, name + " has no SHA-256 and size from the Hub (not an LFS file), so it cannot be verified");
        HubFile file{name, (*lfs)["sha256"].get<std::string>(), (*lfs)["size"].get<uint64_t>()};
        if (!std::regex_match(file.sha256, sha256)) fail(url, name + ": its SHA-256 is not 64 hexadecimal digits");
        rev.gguf_files.push_back(file);
    }
    std::sort(rev.gguf_files.begin(), rev.gguf_files.end(),
              [](const HubFile& a, const HubFile& b) { return a.name < b.name; });
    return rev;
}

std::string sha256_of(const fs::path& path, const std::string& what, uint64_t bytes) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(path.string(), std::strerror(errno));
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
    std::vector<unsigned char> buffer(1 << 20);
    Progress progress("verifying " + what, "MiB", bytes, true, 1 << 20);
    uint64_t done = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            fail(path.string(), std::strerror(e));
        }
        if (n == 0) break;
        EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(n));
        progress.set(done += static_cast<uint64_t>(n));
    }
    ::close(fd);
    progress.finish();
    unsigned char digest[32];
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx.get(), digest, &length);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < length; i++) (out += hex[digest[i] >> 4]) += hex[digest[i] & 15];
    return out;
}

// Holds an exclusive lock on `path` (created) while it lives; waits for another process's.
class FileLock {
public:
    FileLock(const fs::path& path, const std::string& what) {
        fs::create_directories(path.parent_path());
        fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) fail(path.string(), std::strerror(errno));
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
        std::fprintf(stderr, "wkv: %s: another pull is downloading it; waiting for it\n", one_line(what).c_str());
        while (::flock(fd_, LOCK_EX) != 0) {
            if (errno == EINTR && !InterruptWatch::raised()) continue;
            const int e = errno;
            ::close(fd_);
            if (e == EINTR) throw Interrupted(what + ": interrupted while waiting for another pull");
            fail(path.string(), std::strerror(e));
        }
    }
    ~FileLock() { ::close(fd_); }  // closing releases the lock
    FileLock(const FileLock&) = delete;
    FileLock& operator=(const FileLock&) = delete;

private:
    int fd_ = -1;
};

uint64_t free_bytes(const fs::path& dir) {
    struct statvfs s {};
    if (::statvfs(dir.c_str(), &s) != 0) fail(dir.string(), std::strerror(errno));
    return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
}

uint64_t size_or_zero(const fs::path& p) {
    std::error_code ec;
    const uint64_t n = fs::file_size(p, ec);
    return ec ? 0 : n;
}

// blobs/SHA256, downloaded and verified unless it is there already. Returns the bytes fetched.
uint64_t fetch_blob(HttpClient& http, const fs::path& root, const std::string& url, const HubFile& file,
                    const RetryPolicy& retry) {
    const fs::path blob = root / "blobs" / file.sha256;
    if (size_or_zero(blob) == file.bytes && fs::is_regular_file(blob)) return 0;
    fs::create_directories(root / "blobs");
    const FileLock lock(root.parent_path() / ".locks" / root.filename() / (file.sha256 + ".lock"), file.name);
    if (size_or_zero(blob) == file.bytes && fs::is_regular_file(blob)) return 0;  // the other pull fetched it

    const fs::path partial = root / "blobs" / (file.sha256 + ".incomplete");
    const uint64_t have = std::min(size_or_zero(partial), file.bytes);
    const uint64_t free = free_bytes(root / "blobs");
    if (file.bytes - have > free)
        fail(root.string(),
             file.name + " needs " + format_bytes(file.bytes - have) + " more and " + format_bytes(free) + " are free");
    if (have > 0) std::fprintf(stderr, "wkv: %s: resuming after %s\n", file.name.c_str(), format_bytes(have).c_str());
    const uint64_t received = http.download(url, partial, file.bytes, file.name, retry);

    const std::string actual = sha256_of(partial, file.name, file.bytes);
    if (actual != file.sha256) {
        fs::remove(partial);
        fail(file.name, "its SHA-256 is " + actual + ", not the Hub's " + file.sha256 +
                            ": the download is corrupt or tampered with, and is deleted");
    }
    fs::rename(partial, blob);
    return received;
}

// Replaces `target` with `content` whole: a reader sees the old or the new, never half.
void write_atomically(const fs::path& target, const std::string& content) {
    const fs::path temp = target.string() + ".wkv-" + std::to_string(::getpid());
    {
        std::ofstream out(temp, std::ios::binary | std::ios::trunc);
        out << content;
        out.close();
        if (!out) {
            fs::remove(temp);
            fail(target.string(), "could not be written");
        }
    }
    fs::rename(temp, target);
}

// snapshots/COMMIT/NAME -> ../../blobs/SHA256 (one more ../ for each folder in NAME).
fs::path link_snapshot(const fs::path& root, const std::string& commit, const HubFile& file) {
    const fs::path link = root / "snapshots" / commit / file.name;
    fs::create_directories(link.parent_path());
    fs::path target = fs::path("blobs") / file.sha256;
    for (size_t i = 0, depth = 2 + static_cast<size_t>(std::count(file.name.begin(), file.name.end(), '/')); i < depth;
         i++)
        target = ".." / target;
    const fs::path temp = link.string() + ".wkv-" + std::to_string(::getpid());
    fs::remove(temp);
    fs::create_symlink(target, temp);
    fs::rename(temp, link);
    return link;
}

}  // namespace

PullResult pull_model(const std::string& reference, const std::string& file, const RetryPolicy& retry) {
    const HubReference ref = parse_hub_reference(reference);
    if (hub_offline())
        throw Error("HF_HUB_OFFLINE is set: wkv pull downloads nothing (wkv pull --list shows what is cached)");
    const std::string endpoint = hub_endpoint();
    const fs::path root = hub_cache_dir() / hub_repo_folder(ref.repo);
    HttpClient http(hub_token());
    const HubRevision rev = fetch_revision(http, endpoint, ref.repo);

    std::vector<CachedFile> listed;
    for (const HubFile& f : rev.gguf_files) listed.push_back({f.name, "", f.bytes});
    PullResult result{ref.repo, rev.commit, {}, 0};
    try {
        for (const CachedFile* chosen : choose_gguf(listed, ref, file, "")) {
            const HubFile& f = rev.gguf_files[static_cast<size_t>(chosen - listed.data())];
            const std::string url = endpoint + "/" + ref.repo + "/resolve/" + rev.commit + "/" + f.name;
            result.downloaded_bytes += fetch_blob(http, root, url, f, retry);
            result.paths.push_back(link_snapshot(root, rev.commit, f).string());
        }
    } catch (const fs::filesystem_error& e) {
        fail(root.string(), e.code().message());
    }
    try {
        fs::create_directories(root / "refs");
        write_atomically(root / "refs" / "main", rev.commit);  // as the Hub's client: no newline
    } catch (const fs::filesystem_error& e) {
        fail(root.string(), e.code().message());
    }
    return result;
}

std::string hub_model_path(const std::string& reference, const std::string& file) {
    try {
        return cached_model_path(reference, file);
    } catch (const NotCached& e) {
        if (hub_offline()) throw Error(std::string(e.what()) + ", and HF_HUB_OFFLINE is set: nothing is downloaded");
    }
    const InterruptWatch watch;
    return pull_model(reference, file).paths[0];  // a split model's first part
}

std::vector<std::string> list_hub_cache() {
    const fs::path cache = hub_cache_dir();
    std::vector<std::string> lines;
    std::error_code ec;
    std::vector<fs::path> repos;
    for (fs::directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().filename().string().rfind("models--", 0) == 0) repos.push_back(it->path());
    std::sort(repos.begin(), repos.end());
    for (const fs::path& root : repos) {
        std::string repo = root.filename().string().substr(8);
        const size_t dashes = repo.find("--");
        if (dashes == std::string::npos) continue;
        repo.replace(dashes, 2, "/");
        try {
            for (const CachedFile& f : cached_gguf_files(cache, repo))
                lines.push_back(repo + "  " + f.name + "  " + format_bytes(f.bytes));
        } catch (const Error& e) {
            lines.push_back(repo + "  (" + e.what() + ")");
        }
        for (fs::directory_iterator it(root / "blobs", ec), end; !ec && it != end; it.increment(ec))
            if (it->path().extension() == ".incomplete")
                lines.push_back(repo + "  partial download " + it->path().filename().string() + "  " +
                                format_bytes(size_or_zero(it->path())) + " (wkv pull resumes it)");
    }
    return lines;
}

}  // namespace wkv
