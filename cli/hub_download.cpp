#include "hub_download.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "build_info.hpp"
#include "progress.hpp"
#include "runtime/memory_plan.hpp"

namespace wkv {

namespace {

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

CURL* handle(void* p) { return static_cast<CURL*>(p); }

std::string mib(uint64_t bytes) { return format_bytes(bytes); }

// What one transfer of a download saw, filled by curl's callbacks.
struct Transfer {
    CURL* curl = nullptr;
    int fd = -1;
    uint64_t size = 0;   // bytes in the partial file now
    uint64_t limit = 0;  // the whole file's bytes
    uint64_t received = 0;
    Progress* progress = nullptr;
    bool started = false;
    long status = 0;
    int64_t range_start = -1;  // from the final response's Content-Range
    int write_errno = 0;
    bool overflow = false, wrong_range = false;
};

// Every header line of every response on the way (redirects too); only the last response's count.
size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) t.range_start = -1;
    std::string lower = line.substr(0, 14);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "content-range:") {
        unsigned long long start = 0;
        if (std::sscanf(line.c_str() + 14, " bytes %llu-", &start) == 1) t.range_start = static_cast<int64_t>(start);
    }
    return size * n;
}

bool write_all(int fd, const char* data, size_t n) {
    while (n > 0) {
        const ssize_t w = ::write(fd, data, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto& t = *static_cast<Transfer*>(user);
    const size_t bytes = size * n;
    if (!t.started) {
        t.started = true;
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &t.status);
        if (t.status == 200 && t.size > 0) {  // the server ignored Range: start again
            if (::ftruncate(t.fd, 0) != 0 || ::lseek(t.fd, 0, SEEK_SET) != 0) {
                t.write_errno = errno;
                return 0;
            }
            t.size = 0;
        }
        if (t.status == 206 && t.range_start != static_cast<int64_t>(t.size)) {
            t.wrong_range = true;
            return 0;
        }
    }
    if (t.status != 200 && t.status != 206) return bytes;  // an error page: the status says it
    if (bytes > t.limit - t.size) {
        t.overflow = true;
        return 0;
    }
    if (!write_all(t.fd, data, bytes)) {
        t.write_errno = errno ? errno : EIO;
        return 0;
    }
    t.size += bytes;
    t.received += bytes;
    return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& t = *static_cast<Transfer*>(user);
    if (t.progress) t.progress->set(t.size);
    return g_interrupted ? 1 : 0;
}

size_t on_text(char* data, size_t size, size_t n, void* user) {
    auto& [body, max] = *static_cast<std::pair<std::string, size_t>*>(user);
    if (size * n > max - body.size()) return 0;
    body.append(data, size * n);
    return size * n;
}

// A 4xx a retry cannot mend, as a sentence; "" for any other status.
std::string refusal(long status) {
    if (status == 401) return "HTTP 401: a gated or private repository; set HF_TOKEN to a token that may read it";
    if (status == 403) return "HTTP 403: the token may not read this repository (accept its terms on the Hub?)";
    if (status == 404) return "HTTP 404: not found";
    if (status >= 400 && status < 500 && status != 408 && status != 416 && status != 429)
        return "HTTP " + std::to_string(status);
    return "";
}

bool transient(CURLcode rc) {
    switch (rc) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR: return true;
        default: return false;
    }
}

// Sleeps `delay`, waking early on Ctrl-C.
void pause_for(std::chrono::milliseconds delay) {
    const auto end = std::chrono::steady_clock::now() + delay;
    while (!g_interrupted && std::chrono::steady_clock::now() < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

uint64_t file_size_or_zero(const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

struct sigaction g_saved_int, g_saved_term;

}  // namespace

InterruptWatch::InterruptWatch() {
    g_interrupted = false;
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a wait for a lock returns with EINTR
    sigaction(SIGINT, &action, &g_saved_int);
    sigaction(SIGTERM, &action, &g_saved_term);
}

InterruptWatch::~InterruptWatch() {
    sigaction(SIGINT, &g_saved_int, nullptr);
    sigaction(SIGTERM, &g_saved_term, nullptr);
}

bool InterruptWatch::raised() { return g_interrupted; }

HttpClient::HttpClient(std::string token) : token_(std::move(token)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_) throw Error(std::string("libcurl could not start"));
}

HttpClient::~HttpClient() { curl_easy_cleanup(handle(curl_)); }

namespace {

// The settings every request shares; `headers` must outlive the request.
void common_options(CURL* curl, const std::string& url, curl_slist* headers, char* error_text) {
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);  // a connection silent for a minute is dead
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "wkv/" WKV_BUILD_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
    error_text[0] = '\0';
}

std::string curl_problem(CURLcode rc, const char* error_text) {
    return error_text[0] ? error_text : curl_easy_strerror(rc);
}

struct Headers {
    curl_slist* list = nullptr;
    explicit Headers(const std::string& token) {
        if (!token.empty()) list = curl_slist_append(list, ("Authorization: Bearer " + token).c_str());
    }
    ~Headers() { curl_slist_free_all(list); }
};

}  // namespace

HttpReply HttpClient::get(const std::string& url, size_t max_bytes, const std::string& what) {
    CURL* curl = handle(curl_);
    Headers headers(token_);
    char error_text[CURL_ERROR_SIZE];
    common_options(curl, url, headers.list, error_text);
    std::pair<std::string, size_t> sink{"", max_bytes};
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_text);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    const CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_WRITE_ERROR) fail(what, "the reply is over " + std::to_string(max_bytes) + " bytes");
    if (rc != CURLE_OK) fail(what, curl_problem(rc, error_text));
    HttpReply reply;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
    reply.body = std::move(sink.first);
    return reply;
}

uint64_t HttpClient::download(const std::string& url, const std::filesystem::path& partial, uint64_t bytes,
                              const std::string& what, const RetryPolicy& retry) {
    CURL* curl = handle(curl_);
    Headers headers(token_);
    char error_text[CURL_ERROR_SIZE];
    std::chrono::milliseconds delay = retry.first_delay;
    uint64_t received = 0;
    for (int attempt = 0;; attempt++) {
        if (file_size_or_zero(partial) > bytes) std::filesystem::resize_file(partial, 0);
        const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) fail(partial.string(), std::strerror(errno));
        Transfer t;
        t.curl = curl;
        t.fd = fd;
        t.size = file_size_or_zero(partial);
        t.limit = bytes;
        if (t.size == bytes) {
            ::close(fd);
            return received;
        }
        Progress progress(what, "MiB", bytes, true, 1 << 20);
        t.progress = &progress;
        common_options(curl, url, headers.list, error_text);
        const std::string range = std::to_string(t.size) + "-";
        if (t.size > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
        const CURLcode rc = curl_easy_perform(curl);
        received += t.received;
        if (!t.started) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &t.status);
        const bool closed = ::close(fd) == 0;
        progress.set(t.size);
        progress.finish();

        if (rc == CURLE_ABORTED_BY_CALLBACK || g_interrupted)
            throw Interrupted(what + ": interrupted with " + mib(t.size) + " of " + mib(bytes) +
                              "; `wkv pull` again resumes it");
        if (t.write_errno) fail(partial.string(), std::strerror(t.write_errno));
        if (!closed) fail(partial.string(), std::strerror(errno));
        if (t.overflow) {
            std::filesystem::remove(partial);
            fail(what, "the server sent more than the " + std::to_string(bytes) +
                           " bytes the Hub lists for it; the partial file is deleted");
        }
        if (const std::string refused = refusal(t.status); !refused.empty()) fail(what, refused);

        std::string cause;
        if (t.wrong_range) {
            std::filesystem::resize_file(partial, 0);
            cause = "the server answered another range than asked";
        } else if (t.status == 416) {
            std::filesystem::resize_file(partial, 0);
            cause = "HTTP 416 (the partial file does not fit the server's)";
        } else if (rc == CURLE_OK && (t.status == 200 || t.status == 206)) {
            if (t.size == bytes) return received;
            cause = "the connection closed after " + mib(t.size) + " of " + mib(bytes);
        } else if (rc == CURLE_OK || transient(rc)) {
            cause = rc == CURLE_OK ? "HTTP " + std::to_string(t.status) : curl_problem(rc, error_text);
        } else {
            fail(what, curl_problem(rc, error_text));
        }
        if (attempt >= retry.retries)
            fail(what, cause + ", after " + std::to_string(retry.retries) + " retries; " + mib(t.size) +
                           " are kept and `wkv pull` again resumes there");
        std::fprintf(stderr, "wkv: %s: %s; retrying in %.1f s (%d of %d)\n", one_line(what).c_str(), cause.c_str(),
                     delay.count() / 1000.0, attempt + 1, retry.retries);
        pause_for(delay);
        delay = std::min(delay * 2, retry.longest_delay);
    }
}

}  // namespace wkv
