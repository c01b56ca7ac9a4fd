// A live `wkv serve` (stories260K, two slots, WeightedKV at budget 32, started
// once in a child process of the fuzz build) sent requests made of the input:
// the first bytes choose the endpoint, streaming, a temperature from 1 to 100
// and a seed, the rest is the prompt or the user's message. At high
// temperature the model samples byte tokens at random, so replies end inside
// UTF-8 characters: the crash of issue 23 that greedy tests never met.
// Findings, beyond the server dying: a status other than 200 or 400, a reply
// that is not JSON or not UTF-8, a stream that does not end with [DONE].
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
        const std::string model = wkv::fuzz::shared_path("models/stories260K.bin"),
                          tok = wkv::fuzz::shared_path("models/tok512.bin");
        ::execl(WKV_BINARY, WKV_BINARY, "serve", "-m", model.c_str(), "-t", tok.c_str(), "--chat-template", "llama2",
                "--policy", "weightedkv", "--budget", "32", "--parallel", "2", "--port", "0", "--port-file",
                port_file.c_str(), nullptr);
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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 4) return 0;
    if (g_server < 0) start_server();
    const bool chat = data[0] & 1, stream = data[0] & 2;
    const double temperature = 1.0 + 99.0 * data[1] / 255.0;
    const int seed = data[2] | (data[3] << 8);
    const std::string text(reinterpret_cast<const char*>(data + 4), size - 4);
    json body = {{"max_tokens", 24}, {"temperature", temperature}, {"seed", seed}, {"stream", stream}};
    if (chat)
        body["messages"] = json::array({{{"role", "user"}, {"content", valid_utf8(text) ? text : "?"}}});
    else
        body["prompt"] = valid_utf8(text) ? text : "?";

    httplib::Client client("127.0.0.1", g_port);
    client.set_read_timeout(60);
    const auto r = client.Post(chat ? "/v1/chat/completions" : "/v1/completions", body.dump(), "application/json");
    if (::waitpid(g_server, nullptr, WNOHANG) != 0) finding("wkv serve died on " + body.dump());
    if (!r) finding("no answer to " + body.dump());
    if (r->status != 200 && r->status != 400) finding("status " + std::to_string(r->status) + " for " + body.dump());
    if (!valid_utf8(r->body)) finding("a reply that is not UTF-8 for " + body.dump());
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
        }
    }
    if (!done) finding("a stream without [DONE] for " + body.dump());
    return 0;
}
