// cpp-httplib's server with wkv's own connection handling. The packaged
// httplib (0.11.4) parses requests and routes them well, but its connection
// loop has no deadline for a request as a whole (a client sending a byte a
// second holds a thread for ever), drops pipelined requests (each request gets
// a fresh read buffer), buffers a chunked body of any size, and cannot tell a
// handler that its client has gone. This class keeps httplib's parser and
// router (process_request) and replaces the loop around them:
// - one read buffer per connection, so pipelined requests are answered in order;
// - a deadline for each request's line, headers and body together (408 after it,
//   also where httplib itself would close without a word);
// - a cap on a request's bytes, chunked or not (413 as soon as it is passed);
// - a cap on open connections (503 at once past it), a listen backlog of 128;
// - client_gone(), which a handler polls while its reply is being made;
// - stop_connections(), which ends every connection's wait within 0.1 s.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>

namespace wkv {

struct HttpLimits {
    std::chrono::milliseconds request_deadline{10000};  // headers and body of one request
    std::chrono::milliseconds keep_alive{5000};         // an idle connection waits this long for its next request
    std::chrono::milliseconds write_timeout{10000};     // one write to a client that does not read
    size_t max_connections = 256;                       // open at once; each holds a thread
    size_t max_request_bytes = (1 << 20) + (64 << 10);  // request line, headers and body
    size_t max_requests_per_connection = 100;
};

class HttpServer : public httplib::Server {
public:
    explicit HttpServer(HttpLimits limits);
    ~HttpServer() override;

    // Binds with a listen backlog of 128 (httplib's is 5). Returns the port, or -1.
    int bind(const std::string& host, int port);
    // Every connection stops waiting for requests; those being answered finish their reply.
    void stop_connections();

    // For handlers, on the thread answering the request. Whether the client has
    // closed its end (a reply being made for it can stop):
    static bool client_gone();
    // What went wrong while the request was read (the error handler names it):
    enum class Fault { none, timed_out, too_large };
    static Fault request_fault();
    // The connection closes after this reply (an error that left bytes unread); says so in `res`.
    static void close_after_reply(httplib::Response& res);

    class Connection;

private:
    class ConnectionQueue;
    bool process_and_close_socket(socket_t sock) override;
    void reject_and_close(socket_t sock);
    // A 408 or 413 where httplib gave up on a request without answering it.
    static void reply_to_fault(socket_t sock, Fault fault);

    HttpLimits limits_;
    std::atomic<bool> stopping_{false};
    std::atomic<size_t> open_{0};  // connections handed to the pool and not yet closed
};

}  // namespace wkv
