#include "serve_support.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace wkv::test {

using json = nlohmann::json;

int connect_to(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    return fd;
}

std::string read_all(int fd, int quiet_ms) {
    std::string got;
    char buf[65536];
    while (true) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, quiet_ms) <= 0) break;
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

std::string send_raw(int port, const std::string& bytes, int quiet_ms) {
    const int fd = connect_to(port);
    ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    std::string got = read_all(fd, quiet_ms);
    ::close(fd);
    return got;
}

json body_of(const std::string& raw) {
    const size_t at = raw.find("\r\n\r\n");
    REQUIRE(at != std::string::npos);
    return json::parse(raw.substr(at + 4));
}

std::vector<json> events_of(const std::string& body, bool* done) {
    std::vector<json> events;
    *done = false;
    for (size_t at = 0, end; (end = body.find("\n\n", at)) != std::string::npos; at = end + 2) {
        const std::string event = body.substr(at, end - at);
        REQUIRE(event.rfind("data: ", 0) == 0);
        if (event == "data: [DONE]") {
            *done = true;
            continue;
        }
        events.push_back(json::parse(event.substr(6)));
    }
    return events;
}

std::string streamed_text(const std::vector<json>& events) {
    std::string text;
    for (const json& e : events) {
        if (!e.contains("choices") || e["choices"].empty()) continue;
        const json& c = e["choices"][0];
        if (c.contains("text")) text += c["text"].get<std::string>();
        if (c.contains("delta") && c["delta"].contains("content")) text += c["delta"]["content"].get<std::string>();
    }
    return text;
}

std::string post(int port, const std::string& path, const json& body, int timeout_s, int* status) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(timeout_s);
    const auto r = client.Post(path, body.dump(), "application/json");
    REQUIRE(r);
    if (status) *status = r->status;
    return r->body;
}

}  // namespace wkv::test
