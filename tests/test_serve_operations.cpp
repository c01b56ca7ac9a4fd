// wkv serve run for other people (docs/deploy.md): the API key, /metrics as
// Prometheus reads it (checked by promtool), CORS, draining on SIGTERM, and the
// conversation key a balancer routes by.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "serve_support.hpp"
#include "support.hpp"

using namespace wkv::test;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

const std::string kKey = "s3cret-Key_0123456789";

httplib::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

json completion(int max_tokens, bool stream = false) {
    return {{"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}};
}

// `promtool check metrics` on `text`: its exit code and what it said.
std::pair<int, std::string> promtool(const std::string& text) {
    const std::string file = (temp_dir() / "metrics.txt").string();
    write_file(file, std::vector<uint8_t>(text.begin(), text.end()));
    const std::string command = "promtool check metrics < '" + file + "' 2>&1";
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe);
    std::string out;
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
    const int status = ::pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The samples of a metrics page: "name{labels}" -> value.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == '#') continue;
        const size_t space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

}  // namespace

TEST_SUITE("serve") {

TEST_CASE("--api-key: every request but /health and the page needs 'Bearer KEY', else a 401 with an OpenAI error") {
    ServerProcess server(stories_server({"--api-key", kKey}));
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);

    CHECK(client.Get("/health")->status == 200);
    CHECK(client.Get("/")->status == 200);
    // Missing, wrong, a prefix of it, the key and more, another scheme, different case: all the same 401.
    const std::vector<httplib::Headers> wrong = {
        {},
        bearer("nope"),
        bearer(kKey.substr(0, kKey.size() - 1)),
        bearer(kKey + "x"),
        {{"Authorization", "Basic " + kKey}},
        {{"Authorization", "bearer " + kKey}},
        bearer(""),
    };
    for (const std::string path : {"/v1/models", "/stats", "/metrics", "/v1/cache"}) {
        for (const httplib::Headers& h : wrong) {
            const auto r = client.Get(path, h);
            REQUIRE(r);
            CHECK(r->status == 401);
            CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
            const json e = json::parse(r->body)["error"];
            CHECK(e["code"] == "invalid_api_key");
            CHECK(e["type"] == "invalid_request_error");
        }
        // (The cache view is off without --cache-view: past the key, a 404.)
        CHECK(client.Get(path, bearer(kKey))->status == (path == "/v1/cache" ? 404 : 200));
    }
    const auto denied = client.Post("/v1/completions", completion(4).dump(), "application/json");
    CHECK(denied->status == 401);
    // Every refusal is counted: 7 for each of the 4 paths, and this one.
    const std::string metrics = client.Get("/metrics", bearer(kKey))->body;
    CHECK(metrics.find("\nwkv_http_requests_total{code=\"401\"} 29\n") != std::string::npos);
    const auto allowed = client.Post("/v1/completions", bearer(kKey), completion(4).dump(), "application/json");
    REQUIRE(allowed);
    CHECK(allowed->status == 200);
    CHECK(json::parse(allowed->body)["usage"]["completion_tokens"] == 4);
}

TEST_CASE("WKV_API_KEY sets the key; a bad key, from the flag or the variable, is one line and exit 2") {
    ServerProcess server(stories_server(), {{"WKV_API_KEY", kKey}});
    httplib::Client client("127.0.0.1", server.port());
    CHECK(client.Get("/v1/models")->status == 401);
    CHECK(client.Get("/v1/models", bearer(kKey))->status == 200);

    std::vector<std::string> serve = stories_server();
    serve.insert(serve.begin(), "serve");
    check_one_line_error(run_wkv_with_env(serve, {{"WKV_API_KEY", ""}}), 2, "WKV_API_KEY is empty");
    std::vector<std::string> spaced = serve;
    spaced.insert(spaced.end(), {"--api-key", "two words"});
    check_one_line_error(run_wkv(spaced), 2, "--api-key may hold only visible ASCII characters");
}

TEST_CASE("/metrics: promtool accepts it; tokens, requests, evictions and merges are counted exactly") {
    ServerProcess server(stories_server({"--parallel", "2", "--cpu"}));
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    const auto before = client.Get("/metrics");
    REQUIRE(before);
    CHECK(before->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
    const auto [empty_status, empty_said] = promtool(before->body);
    CHECK_MESSAGE(empty_status == 0, empty_said);

    // Two whole replies of 100 tokens, one streamed, and a bad request.
    int prompt_tokens = 0;
    for (bool stream : {false, true}) {
        const auto r = client.Post("/v1/completions", completion(100, stream).dump(), "application/json");
        REQUIRE(r);
        CHECK(r->status == 200);
        if (!stream) prompt_tokens = json::parse(r->body)["usage"]["prompt_tokens"].get<int>();
    }
    CHECK(client.Post("/v1/completions", "{", "application/json")->status == 400);
    const auto after = client.Get("/metrics");
    const auto [status, said] = promtool(after->body);
    CHECK_MESSAGE(status == 0, said);
    std::map<std::string, double> m = samples(after->body);
    CHECK(m["wkv_generation_tokens_total"] == 200);
    CHECK(m["wkv_prompt_tokens_total"] == 2 * prompt_tokens);
    CHECK(m["wkv_slots"] == 2);
    CHECK(m["wkv_slots_busy"] == 0);
    CHECK(m["wkv_requests_queued"] == 0);
    CHECK(m["wkv_http_requests_total{code=\"200\"}"] == 3);  // two replies and the first /metrics
    CHECK(m["wkv_http_requests_total{code=\"400\"}"] == 1);
    CHECK(m["wkv_time_to_first_token_seconds_count"] == 2);
    CHECK(m["wkv_time_to_first_token_seconds_bucket{le=\"+Inf\"}"] == 2);
    CHECK(m["wkv_time_per_output_token_seconds_count"] == 2);
    CHECK(m["wkv_time_per_output_token_seconds_sum"] > 0);
    CHECK(m["wkv_kv_cache_bytes"] > 0);
    CHECK(m["wkv_kv_cache_bytes_in_use"] > 0);
    CHECK(m["wkv_resident_memory_bytes"] > 0);
    // Each reply fed its prompt and 99 tokens (the 100th waits) through a cache of 64
    // in each of stories260K's 5 layers x 4 KV heads; WeightedKV merges every eviction.
    const double evictions = 2.0 * (prompt_tokens + 99 - 64) * 5 * 4;
    CHECK(m["wkv_kv_evictions_total{policy=\"weightedkv\"}"] == evictions);
    CHECK(m["wkv_kv_merges_total{policy=\"weightedkv\"}"] == evictions);
}

TEST_CASE("CORS is off unless --cors names the origin: then its preflight and requests are answered") {
    {
        ServerProcess closed(stories_server());
        httplib::Client client("127.0.0.1", closed.port());
        const auto r = client.Get("/v1/models", {{"Origin", "https://app.example.com"}});
        CHECK(r->status == 403);
        CHECK(!r->has_header("Access-Control-Allow-Origin"));
    }
    ServerProcess server(stories_server({"--cors", "https://app.example.com", "--api-key", kKey}));
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    // The preflight carries no key; it says what the real request may send.
    const auto preflight =
        client.Options("/v1/chat/completions", {{"Origin", "https://app.example.com"},
                                                {"Access-Control-Request-Method", "POST"},
                                                {"Access-Control-Request-Headers", "authorization"}});
    REQUIRE(preflight);
    CHECK(preflight->status == 204);
    CHECK(preflight->get_header_value("Access-Control-Allow-Origin") == "https://app.example.com");
    CHECK(preflight->get_header_value("Access-Control-Allow-Headers").find("Authorization") != std::string::npos);
    httplib::Headers h = bearer(kKey);
    h.emplace("Origin", "https://app.example.com");
    const auto r = client.Post("/v1/completions", h, completion(3).dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Access-Control-Allow-Origin") == "https://app.example.com");
    CHECK(r->get_header_value("Vary") == "Origin");
    // Another origin still gets 403, and no CORS header.
    const auto other =
        client.Get("/v1/models", {{"Origin", "https://evil.example.com"}, {"Authorization", "Bearer " + kKey}});
    CHECK(other->status == 403);
    CHECK(!other->has_header("Access-Control-Allow-Origin"));

    std::vector<std::string> bad = stories_server({"--cors", "app.example.com"});
    bad.insert(bad.begin(), "serve");
    check_one_line_error(run_wkv(bad), 2, "--cors 'app.example.com' is not an origin");
}

TEST_CASE("--drain-seconds: SIGTERM lets a stream in flight finish while new requests get 503; then exit 0") {
    ServerProcess server(stories_server({"--drain-seconds", "120", "--cpu"}));
    const int port = server.port();
    // A stream long enough to be running when the signal comes (the health check below
    // finds the server draining, not gone), short enough to finish well inside the drain.
    auto streamed = std::async(std::launch::async, [port] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(120);
        const auto r = client.Post("/v1/completions", completion(8000, true).dump(), "application/json");
        return r ? r->body : std::string();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(server.pid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    httplib::Client client("127.0.0.1", port);
    const auto health = client.Get("/health");
    const auto refused = client.Post("/v1/completions", completion(3).dump(), "application/json");
    const std::string body = streamed.get();
    const RunResult r = server.stop(SIGTERM);  // already exiting: this waits for it
    CHECK(r.exit_code == 0);
    REQUIRE(health);
    CHECK(health->status == 503);
    CHECK(json::parse(health->body)["status"] == "draining");
    REQUIRE(refused);
    CHECK(refused->status == 503);
    CHECK(json::parse(refused->body)["error"]["type"] == "server_shutting_down");
    bool done = false;
    const std::vector<json> events = events_of(body, &done);
    REQUIRE(!events.empty());
    CHECK(done);
    REQUIRE_MESSAGE(events.back().contains("choices"), events.back().dump());
    CHECK(events.back()["choices"][0]["finish_reason"] == "length");  // finished whole
    CHECK(r.err.find("draining") != std::string::npos);
}

TEST_CASE("--drain-seconds: a reply that outlasts the drain is ended with an error event, and the exit is 0 in time") {
    ServerProcess server(stories_server({"--drain-seconds", "1", "--max-tokens-per-request", "0"}));
    const int port = server.port();
    auto endless = std::async(std::launch::async, [port] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(60);
        const auto r = client.Post("/v1/completions", completion(1 << 20, true).dump(), "application/json");
        return r ? r->body : std::string();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    const auto start = clock_type::now();
    const RunResult r = server.stop(SIGTERM);
    const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    CHECK(r.exit_code == 0);
    CHECK(seconds > 0.9);
    CHECK(seconds < 6.0);  // the drain, then at most the shutdown's own bound
    bool done = false;
    const std::vector<json> events = events_of(endless.get(), &done);
    REQUIRE(!events.empty());
    REQUIRE_MESSAGE(events.back().contains("error"), events.back().dump());
    CHECK(events.back()["error"]["type"] == "server_shutting_down");
}

TEST_CASE("the conversation key is echoed: X-Conversation-Id, else the body's user; nothing a header cannot carry") {
    ServerProcess server(stories_server());
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    const auto by_header =
        client.Post("/v1/completions", {{"X-Conversation-Id", "conv-42"}}, completion(2).dump(), "application/json");
    CHECK(by_header->get_header_value("X-Conversation-Id") == "conv-42");
    json with_user = completion(2);
    with_user["user"] = "alice";
    CHECK(client.Post("/v1/completions", with_user.dump(), "application/json")->get_header_value("X-Conversation-Id") ==
          "alice");
    // The header wins over the body.
    CHECK(client.Post("/v1/completions", {{"X-Conversation-Id", "conv-7"}}, with_user.dump(), "application/json")
              ->get_header_value("X-Conversation-Id") == "conv-7");
    with_user["user"] = "line\nbreak";
    CHECK(!client.Post("/v1/completions", with_user.dump(), "application/json")->has_header("X-Conversation-Id"));
    with_user["user"] = 7;
    const auto bad = client.Post("/v1/completions", with_user.dump(), "application/json");
    CHECK(bad->status == 400);
    CHECK(json::parse(bad->body)["error"]["param"] == "user");
}

}  // TEST_SUITE("serve")
