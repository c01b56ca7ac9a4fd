#include "http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace wkv {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kSlice{100};  // how often a wait looks at stop_connections()

// Whether the peer has closed its end: a hang-up, or end of file waiting to be read.
bool peer_closed(int fd) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return true;
    char byte;
    return (p.revents & POLLIN) && ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                        : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    if (rc != 0) return;
    char text[INET6_ADDRSTRLEN] = {};
    if (addr.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
        ::inet_ntop(AF_INET, &a->sin_addr, text, sizeof(text));
        port = ntohs(a->sin_port);
    } else if (addr.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
        ::inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof(text));
        port = ntohs(a->sin6_port);
    }
    ip = text;
}

// After an error answered before the request was read whole (a body over the
// limit, say), the client may still be sending: closing at once would reset the
// connection, and a reset can destroy the reply before the client reads it. So
// the server says it has finished, then reads and drops what still comes, for a
// bounded time and size, before it closes.
void linger(int fd) {
    ::shutdown(fd, SHUT_WR);
    const auto until = clock::now() + std::chrono::seconds(2);
    size_t dropped = 0;
    char sink[16384];
    while (dropped < (16u << 20)) {
        const auto left = std::chrono::duration_cast<milliseconds>(until - clock::now());
        pollfd p{fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
        const ssize_t n = ::recv(fd, sink, sizeof(sink), 0);
        if (n <= 0) return;
        dropped += static_cast<size_t>(n);
    }
}

// A whole reply written by hand, for the cases httplib has no request to answer:
// an OpenAI error object, and the connection closes after it.
std::string canned_reply(int status, const std::string& reason, const std::string& message, const std::string& type) {
    const std::string body =
        R"({"error":{"message":")" + message + R"(","type":")" + type + R"(","param":null,"code":null}})";
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

// One client connection: httplib's parser reads it through this stream, which
// keeps what it received past the current request for the next one.
class HttpServer::Connection : public httplib::Stream {
public:
    Connection(int fd, const HttpLimits& limits, const std::atomic<bool>& stopping)
        : fd_(fd), limits_(limits), stopping_(stopping) {}

    // Waits up to the keep-alive time for the first byte of another request; false if none comes.
    bool wait_for_request() {
        if (start_ < buffer_.size()) return true;
        return fill(clock::now() + limits_.keep_alive) > 0;
    }
    void begin_request() {
        deadline_ = clock::now() + limits_.request_deadline;
        request_bytes_ = 0;
        replied_ = false;
    }
    HttpServer::Fault fault() const { return fault_; }
    void close_after_reply() { broken_ = true; }
    bool broken() const { return broken_ || fault_ != Fault::none; }
    bool gone() const { return peer_closed(fd_); }

    bool is_readable() const override { return start_ < buffer_.size() || wait_for_request_bytes(); }
    bool is_writable() const override {
        return !peer_closed(fd_) && wait(POLLOUT, clock::now() + limits_.write_timeout);
    }

    ssize_t read(char* ptr, size_t size) override {
        if (start_ == buffer_.size()) {
            const ssize_t got = fill(deadline_);
            if (got <= 0) return got;
        }
        const size_t n = std::min(size, buffer_.size() - start_);
        request_bytes_ += n;
        if (request_bytes_ > limits_.max_request_bytes) {
            fault_ = Fault::too_large;
            return -1;
        }
        std::memcpy(ptr, buffer_.data() + start_, n);
        start_ += n;
        return static_cast<ssize_t>(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!wait(POLLOUT, clock::now() + limits_.write_timeout)) return -1;
        const ssize_t sent = ::send(fd_, ptr, size, MSG_NOSIGNAL);
        if (sent > 0) replied_ = true;
        return sent;
    }
    // Whether any of a reply to the current request has been sent.
    bool replied() const { return replied_; }

    void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, true, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, false, ip, port); }
    socket_t socket() const override { return fd_; }

private:
    // Polls for `events` until `until`, in slices, so that a stop is seen within one.
    bool wait(short events, clock::time_point until) const {
        while (true) {
            // Rounded up: truncated, the last fraction of a millisecond would end the wait
            // before `until`, and a request that ran out of time would not count as timed out.
            const auto left = std::chrono::ceil<milliseconds>(until - clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, events, 0};
            const int rc = ::poll(&p, 1, static_cast<int>(std::min(left, kSlice).count()));
            if (rc > 0) return true;
            if (rc < 0 && errno != EINTR) return false;
            // While stopping, waiting to read ends at once; a reply being written may still finish.
            if (stopping_ && events == POLLIN) return false;
        }
    }

    // Waits for more of the current request until its deadline; past it, the request has timed out
    // (httplib asks this before some reads, and gives up without reading when it says no).
    bool wait_for_request_bytes() const {
        if (wait(POLLIN, deadline_)) return true;
        if (clock::now() >= deadline_) fault_ = Fault::timed_out;
        return false;
    }

    // Receives more bytes into the buffer before `until`: their count, 0 at the end, -1 on error or time-out.
    ssize_t fill(clock::time_point until) {
        const bool ready = until == deadline_ ? wait_for_request_bytes() : wait(POLLIN, until);
        if (!ready) return -1;
        if (start_ == buffer_.size()) {
            buffer_.clear();
            start_ = 0;
        }
        char chunk[16384];
        const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
        if (got > 0) buffer_.append(chunk, static_cast<size_t>(got));
        return got;
    }

    int fd_;
    const HttpLimits& limits_;
    const std::atomic<bool>& stopping_;
    std::string buffer_;
    size_t start_ = 0;  // the first byte not yet read
    clock::time_point deadline_ = clock::time_point::max();
    size_t request_bytes_ = 0;
    mutable HttpServer::Fault fault_ = Fault::none;
    bool broken_ = false;
    bool replied_ = false;  // bytes of a reply to the current request have gone out
};

namespace {
thread_local HttpServer::Connection* t_connection = nullptr;  // the connection this thread answers
thread_local bool t_reject = false;                           // set while the accepting thread refuses one
}  // namespace

// httplib's pool, behind a count of open connections: past the cap, a
// connection is refused at once on the accepting thread instead of queueing.
class HttpServer::ConnectionQueue : public httplib::TaskQueue {
public:
    explicit ConnectionQueue(HttpServer& server) : server_(server), pool_(server.limits_.max_connections) {}
    void enqueue(std::function<void()> fn) override {
        if (server_.open_ >= server_.limits_.max_connections) {
            t_reject = true;
            fn();
            t_reject = false;
            return;
        }
        server_.open_++;
        pool_.enqueue(std::move(fn));
    }
    void shutdown() override { pool_.shutdown(); }

private:
    HttpServer& server_;
    httplib::ThreadPool pool_;
};

HttpServer::HttpServer(HttpLimits limits) : limits_(limits) {
    new_task_queue = [this] { return new ConnectionQueue(*this); };
}

HttpServer::~HttpServer() = default;

int HttpServer::bind(const std::string& host, int port) {
    const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
    // Listening again only changes the backlog: httplib's 5 refuses bursts of clients.
    if (bound >= 0) ::listen(svr_sock_, 128);
    return bound;
}

void HttpServer::stop_connections() { stopping_ = true; }

bool HttpServer::client_gone() { return t_connection && t_connection->gone(); }

HttpServer::Fault HttpServer::request_fault() { return t_connection ? t_connection->fault() : Fault::none; }

void HttpServer::close_after_reply(httplib::Response& res) {
    res.set_header("Connection", "close");
    if (t_connection) t_connection->close_after_reply();
}

void HttpServer::reject_and_close(socket_t sock) {
    static const std::string reply =
        canned_reply(503, "Service Unavailable", "the server has too many open connections", "server_busy");
    ::send(sock, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
}

void HttpServer::reply_to_fault(socket_t sock, Fault fault) {
    static const std::string timed_out = canned_reply(
        408, "Request Timeout", "the request took too long to arrive (--read-timeout)", "invalid_request_error");
    static const std::string too_large =
        canned_reply(413, "Payload Too Large", "the request is too large", "invalid_request_error");
    const std::string& reply = fault == Fault::timed_out ? timed_out : too_large;
    ::send(sock, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

bool HttpServer::process_and_close_socket(socket_t sock) {
    if (t_reject) {
        reject_and_close(sock);
        return true;
    }
    {
        Connection connection(sock, limits_, stopping_);
        t_connection = &connection;
        for (size_t served = 0; served < limits_.max_requests_per_connection && !stopping_; served++) {
            if (!connection.wait_for_request()) break;
            connection.begin_request();
            const bool last = served + 1 == limits_.max_requests_per_connection || stopping_;
            bool closed = false;
            if (!process_request(connection, last, closed, {})) {
                // httplib gives up without a reply when the request line itself does not arrive
                // in time or is too long: the client still hears why.
                if (!connection.replied() && connection.fault() != Fault::none)
                    reply_to_fault(sock, connection.fault());
                break;
            }
            if (closed || connection.broken()) break;
        }
        t_connection = nullptr;
        if (connection.broken()) linger(sock);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    open_--;
    return true;
}

}  // namespace wkv
