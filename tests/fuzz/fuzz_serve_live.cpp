// A live `wkv serve` (stories260K with token 'q' poisoned: its embedding row is
// NaN; two slots, WeightedKV at budget 32, --cache-view; started once in a
// child process of the fuzz build) sent requests made of the input: the first
// bytes choose the endpoint, streaming, whether a request that fails mid-batch
// runs beside it, a temperature from 1 to 100 and a seed; the rest is the
// prompt or the user's message. At high temperature the model samples byte
// tokens at random, so replies end inside UTF-8 characters: the crash of issue
// 23 that greedy tests never met. A prompt that holds a 'q' (fuzzed, or the
// failing neighbour's "Zed quux") fails with a 500 mid-batch; the other slot's
// reply must not notice. After each reply its cache view is read with the
// reply's X-Cache-Token, and with a token made of the input's bytes.
// Findings, beyond the server dying: a status other than 200, 400 or that 500,
// a reply that is not JSON or not UTF-8, a stream that does not end with
// [DONE], a view that its own token cannot read, one that a made-up token can.
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../poisoned_model.hpp"
#include "fuzz_input.hpp"

namespace {

using json = nlohmann::json;

pid_t g_server = -1;
int g_port = 0;

[[noreturn]] void finding(const std::string& what) {
    std::fprintf(stderr, "finding: %s\n", what.c_str());
    std::abort();
}

void start_server() {
    std::signal(SIGPIPE, SIG_IGN);  // httplib's client writes without MSG_NOSIGNAL
    const std::string port_file = "/tmp/wkv-fuzz-serve-port-" + std::to_string(::getpid());
    ::unlink(port_file.c_str());
    g_server = ::fork();
    if (g_server < 0) std::abort();
    if (g_server == 0) {
        // The server's own leaks at exit are the sanitizer stage's business, not this harness's.
        ::setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
        if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) _exit(127);
        const std::string tok = wkv::fuzz::shared_path("models/tok512.bin");
        const std::string model = "/tmp/wkv-fuzz-poisoned-" + std::to_string(::getpid()) + ".bin";
        if (!wkv::test::write_poisoned_llama2c(wkv::fuzz::shared_path("models/stories260K.bin"), model, {456}, true))
            _exit(126);
        ::execl(WKV_BINARY, WKV_BINARY, "serve", "-m", model.c_str(), "-t", tok.c_str(), "--chat-template", "llama2",
                "--policy", "weightedkv", "--budget", "32", "--parallel", "2", "--cache-view", "--port", "0",
                "--port-file", port_file.c_str(), nullptr);
        _exit(127);
    }
    std::atexit([] {
        ::kill(g_server, SIGKILL);
        ::waitpid(g_server, nullptr, 0);
    });
    for (int i = 0; i < 1200 && g_port == 0; i++) {
        std::ifstream in(port_file);
        if (!(in >> g_port)) g_port = 0;
        if (g_port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (::waitpid(g_server, nullptr, WNOHANG) != 0) finding("wkv serve did not start");
    }
    ::unlink(port_file.c_str());
    if (g_port == 0) finding("wkv serve did not listen within 120 s");
}

bool valid_utf8(const std::string& s) {
    try {
        (void)json(s).dump();  // the strict writer throws on anything that is not UTF-8
        return true;
    } catch (const json::exception&) {
        return false;
    }
}

// The server's answer to a request that failed on its own logits: anything else is a finding.
bool not_finite_failure(const json& body) {
    return body.contains("error") && body["error"].value("type", "") == "server_error" &&
           body["error"].value("message", "").find("not finite") != std::string::npos;
}

// Reads the view of a reply: its own token must read it; a token made of the input must not.
void check_views(const std::string& token, const std::string& made_up) {
    httplib::Client client("127.0.0.1", g_port);
    client.set_read_timeout(30);
    const auto own = client.Get("/v1/cache?heads=1", {{"X-Cache-Token", token}});
    if (!own) finding("no answer to a view read");
    if (own->status != 200 || !json::accept(own->body))
        finding("a reply's own token read " + std::to_string(own->status));
    const auto other = client.Get("/v1/cache", {{"X-Cache-Token", made_up}});
    if (!other) finding("no answer to a view read");
    if (other->status != 404 && other->status != 400) finding("a made-up token read " + std::to_string(other->status));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    if (g_server < 0) start_server();
    const bool chat = data[0] & 1, stream = data[0] & 2, failing_neighbour = data[0] & 4;
    const double temperature = 1.0 + 99.0 * data[1] / 255.0;
    const int seed = data[2] | (data[3] << 8);
    const std::string text(reinterpret_cast<const char*>(data + 4), size - 4);
    json body = {{"max_tokens", 24}, {"temperature", temperature}, {"seed", seed}, {"stream", stream}};
    if (chat)
        body["messages"] = json::array({{{"role", "user"}, {"content", valid_utf8(text) ? text : "?"}}});
    else
        body["prompt"] = valid_utf8(text) ? text : "?";

    // A request that fails mid-batch beside this one: 'q' is poisoned.
    std::thread neighbour;
    if (failing_neighbour) {
        neighbour = std::thread([] {
            httplib::Client client("127.0.0.1", g_port);
            client.set_read_timeout(60);
            const auto r = client.Post("/v1/completions",
                                       json{{"prompt", "Zed quux"}, {"max_tokens", 8}, {"temperature", 0}}.dump(),
                                       "application/json");
            if (!r) finding("no answer to the failing neighbour");
            if (r->status != 500 || !json::accept(r->body) || !not_finite_failure(json::parse(r->body)))
                finding("the failing neighbour got " + std::to_string(r->status) + ": " + r->body);
        });
    }
    httplib::Client client("127.0.0.1", g_port);
    client.set_read_timeout(60);
    const auto r = client.Post(chat ? "/v1/chat/completions" : "/v1/completions", body.dump(), "application/json");
    if (neighbour.joinable()) neighbour.join();
    if (::waitpid(g_server, nullptr, WNOHANG) != 0) finding("wkv serve died on " + body.dump());
    if (!r) finding("no answer to " + body.dump());
    if (r->status != 200 && r->status != 400 && r->status != 500)
        finding("status " + std::to_string(r->status) + " for " + body.dump());
    if (!valid_utf8(r->body)) finding("a reply that is not UTF-8 for " + body.dump());
    if (r->status == 500 && !(json::accept(r->body) && not_finite_failure(json::parse(r->body))))
        finding("a 500 other than non-finite logits for " + body.dump() + ": " + r->body);
    // (Beside a neighbour, the neighbour may take the slot after this reply, voiding its token.)
    const std::string token = r->get_header_value("X-Cache-Token");
    if ((r->status == 200 || r->status == 500) && !failing_neighbour) {
        if (token.size() != 32) finding("a reply without its X-Cache-Token for " + body.dump());
        static const char hex[] = "0123456789abcdef";
        std::string made_up;
        for (size_t i = 0; i < 16; i++) made_up += {hex[data[i % size] >> 4], hex[data[i % size] & 15]};
        check_views(token, made_up);
    }
    if (!stream || r->status != 200) {
        if (!json::accept(r->body)) finding("a reply that is not JSON: " + r->body);
        return 0;
    }
    bool done = false;
    for (size_t at = 0, end; (end = r->body.find("\n\n", at)) != std::string::npos; at = end + 2) {
        const std::string event = r->body.substr(at, end - at);
        if (event.rfind("data: ", 0) != 0) finding("an event without 'data: ': " + event);
        if (event == "data: [DONE]") {
            done = true;
        } else if (!json::accept(event.substr(6))) {
            finding("an event that is not JSON: " + event);
        } else if (json::parse(event.substr(6)).contains("error") &&
                   !not_finite_failure(json::parse(event.substr(6)))) {
            finding("a stream that ended with an error other than non-finite logits: " + event);
        }
    }
    if (!done) finding("a stream without [DONE] for " + body.dump());
    return 0;
}
