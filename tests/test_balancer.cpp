// Two wkv serve replicas behind a real HAProxy, run with docs/haproxy.cfg as
// docs/deploy.md gives it: a conversation's turns reach the replica that holds
// its cache, keys that hash apart land on different replicas, and when a
// replica dies new conversations go to the other.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "support.hpp"

using namespace wkv::test;
using json = nlohmann::json;

namespace {

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t size = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

std::string address(int port) { return "127.0.0.1:" + std::to_string(port); }

// haproxy -f docs/haproxy.cfg in the foreground, stopped when this goes out of scope.
class Balancer {
public:
    Balancer(int port, int replica_a, int replica_b) : port_(port) {
        const std::string log = (temp_dir() / "haproxy.log").string();
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::setenv("WKV_FRONTEND", address(port).c_str(), 1);
            ::setenv("WKV_REPLICA_A", address(replica_a).c_str(), 1);
            ::setenv("WKV_REPLICA_B", address(replica_b).c_str(), 1);
            if (!std::freopen(log.c_str(), "w", stdout) || !std::freopen(log.c_str(), "a", stderr)) _exit(127);
            const std::string config = std::string(WKV_SOURCE_DIR) + "/docs/haproxy.cfg";
            ::execlp("haproxy", "haproxy", "-db", "-f", config.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        // Listening, and both replicas seen healthy (two checks a second apart).
        httplib::Client client("127.0.0.1", port);
        for (int i = 0; i < 100; i++) {
            int status = 0;
            REQUIRE_MESSAGE(::waitpid(pid_, &status, WNOHANG) == 0, "haproxy exited: " << read_file(log));
            const auto r = client.Get("/health");
            if (r && r->status == 200) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    }
    ~Balancer() {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
    int port() const { return port_; }

private:
    int pid_ = -1;
    int port_;
};

// Tokens a replica has generated (its /metrics), to tell which one answered.
double generated(int replica_port) {
    httplib::Client client("127.0.0.1", replica_port);
    const auto r = client.Get("/metrics");
    REQUIRE(r);
    const std::string name = "wkv_generation_tokens_total ";
    const size_t at = r->body.find("\n" + name);
    REQUIRE(at != std::string::npos);
    return std::stod(r->body.substr(at + 1 + name.size()));
}

struct Turn {
    json reply;
    std::string echoed;  // X-Conversation-Id of the reply
};

// One chat turn through the balancer, keyed by the header (or, with `in_body`, by `user`).
std::optional<Turn> chat(int port, const std::string& key, const json& messages, bool in_body = false) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(60);
    json body = {{"messages", messages}, {"max_tokens", 8}, {"temperature", 0}};
    httplib::Headers headers;
    if (in_body)
        body["user"] = key;
    else
        headers.emplace("X-Conversation-Id", key);
    const auto r = client.Post("/v1/chat/completions", headers, body.dump(), "application/json");
    if (!r || r->status != 200) return std::nullopt;
    return Turn{json::parse(r->body), r->get_header_value("X-Conversation-Id")};
}

json first_message(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

}  // namespace

TEST_SUITE("serve") {

TEST_CASE("HAProxy with docs/haproxy.cfg: turns stick to their replica's cache, keys spread, a dead replica's go on") {
    ServerProcess a(stories_server({"--parallel", "4", "--cpu"}));
    ServerProcess b(stories_server({"--parallel", "4", "--cpu"}));
    Balancer balancer(free_port(), a.port(), b.port());
    const int port = balancer.port();

    // Which replica each key's first turn reaches: keys until both have been seen.
    std::map<std::string, int> replica_of;  // key -> replica port
    std::optional<std::string> on_a, on_b;
    for (int i = 0; i < 16 && !(on_a && on_b); i++) {
        const std::string key = "conversation-" + std::to_string(i);
        const double before_a = generated(a.port()), before_b = generated(b.port());
        const std::optional<Turn> t = chat(port, key, first_message("Once upon a time " + key));
        REQUIRE_MESSAGE(t, "turn of " << key);
        CHECK(t->echoed == key);
        const bool to_a = generated(a.port()) > before_a, to_b = generated(b.port()) > before_b;
        REQUIRE(to_a != to_b);  // exactly one replica answered
        replica_of[key] = to_a ? a.port() : b.port();
        (to_a ? on_a : on_b) = key;
    }
    REQUIRE_MESSAGE(on_a, "no key reached replica a");
    REQUIRE_MESSAGE(on_b, "no key reached replica b");

    // A conversation's second turn, through the balancer, continues in the cache that holds the first.
    for (const std::string& key : {*on_a, *on_b}) {
        CAPTURE(key);
        json messages = first_message("Once upon a time " + key);
        const std::optional<Turn> again = chat(port, key, messages);  // the first turn, anew in its slot
        REQUIRE(again);
        messages.push_back({{"role", "assistant"}, {"content", again->reply["choices"][0]["message"]["content"]}});
        messages.push_back({{"role", "user"}, {"content", "And then?"}});
        const double before = generated(replica_of[key]);
        const std::optional<Turn> second = chat(port, key, messages);
        REQUIRE(second);
        CHECK(second->reply["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>() > 0);
        CHECK(generated(replica_of[key]) > before);
    }
    // The OpenAI `user` field routes as the header does.
    {
        const double before = generated(replica_of[*on_b]);
        const std::optional<Turn> t = chat(port, *on_b, first_message("A user's story"), /*in_body=*/true);
        REQUIRE(t);
        CHECK(t->echoed == *on_b);
        CHECK(generated(replica_of[*on_b]) > before);
    }

    // Replica a dies: once HAProxy's checks see it, a's keys start new conversations on b.
    const double b_before = generated(b.port());
    a.stop(SIGKILL);
    bool moved = false;
    for (int i = 0; i < 50 && !moved; i++) {
        moved = chat(port, *on_a, first_message("Once upon a time, again")).has_value();
        if (!moved) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(moved);
    CHECK(generated(b.port()) > b_before);
    for (int i = 0; i < 4; i++) CHECK(chat(port, "new-" + std::to_string(i), first_message("Hello")).has_value());
}

}  // TEST_SUITE("serve")
