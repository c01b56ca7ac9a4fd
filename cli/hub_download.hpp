// HTTP for wkv pull, through libcurl (TLS, redirects and proxies are curl's):
// a small document from the Hub's API, and a file appended to a partial copy
// from where it stopped (a Range request), retried with back-off when the
// connection drops. Ctrl-C stops a download between two writes and keeps what
// arrived, for the next pull to resume.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "error.hpp"

namespace wkv {

// Thrown when Ctrl-C (or SIGTERM) stops a download or a wait for another pull's lock.
class Interrupted : public Error {
public:
    explicit Interrupted(const std::string& message) : Error(message) {}
};

// While one lives, SIGINT and SIGTERM set a flag that downloads and lock waits watch,
// instead of ending the process; the handlers before it come back when it goes.
class InterruptWatch {
public:
    InterruptWatch();
    ~InterruptWatch();
    InterruptWatch(const InterruptWatch&) = delete;
    InterruptWatch& operator=(const InterruptWatch&) = delete;
    static bool raised();
};

struct HttpReply {
    long status = 0;
    std::string body;
};

struct RetryPolicy {
    int retries = 5;                              // after the first try
    std::chrono::milliseconds first_delay{1000};  // doubled after each retry
    std::chrono::milliseconds longest_delay{30000};
};

class HttpClient {
public:
    // `token` goes in "Authorization: Bearer" to the host of each request's URL (never to a
    // host a redirect leads to, and never into a message); "" sends none.
    explicit HttpClient(std::string token);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;

    // GET `url`, following redirects. A transport failure or a body over `max_bytes`
    // throws an Error naming `what`; any HTTP status is returned.
    HttpReply get(const std::string& url, size_t max_bytes, const std::string& what);

    // Appends `url`'s content to `partial` (created if absent) until it holds `bytes`, asking for
    // the rest with Range; a server that answers with the whole file restarts it. A dropped
    // connection, a stall, 429 or 5xx is retried per `retry`. Throws an Error naming `what` for
    // what a retry cannot mend: 401, 403, 404, a write that fails (a full disk), more bytes
    // than `bytes`; Interrupted on Ctrl-C. The partial file stays in every case but the last two.
    // Returns the bytes received (a restart counts them all).
    uint64_t download(const std::string& url, const std::filesystem::path& partial, uint64_t bytes,
                      const std::string& what, const RetryPolicy& retry);

private:
    void* curl_;  // CURL*
    std::string token_;
};

}  // namespace wkv
