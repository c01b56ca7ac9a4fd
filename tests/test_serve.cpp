// wkv serve over loopback: every endpoint, the server-sent events, the error
// replies, concurrency, disconnects, and the demo page in a real browser.
#include <doctest/doctest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <nlohmann/json.hpp>
#include <regex>

#include "support.hpp"

using namespace wkv::test;
using json = nlohmann::json;

namespace {

json chat_body(const std::string& user, int max_tokens, bool stream = false) {
    return {{"messages", json::array({{{"role", "user"}, {"content", user}}})},
            {"max_tokens", max_tokens},
            {"temperature", 0},
            {"stream", stream}};
}

// The text of a non-streamed chat reply.
std::string reply_text(const httplib::Result& r) {
    REQUIRE(r);
    REQUIRE_MESSAGE(r->status == 200, r->body);
    return json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
}

}  // namespace

TEST_SUITE("serve") {

TEST_CASE("endpoints: health, models, stats, chat and completions, streamed and not; errors are OpenAI-style") {
    ServerProcess server(stories_server({"--parallel", "2"}));
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);

    auto health = client.Get("/health");
    REQUIRE(health);
    CHECK(json::parse(health->body) == json{{"status", "ok"}});
    const json models = json::parse(client.Get("/v1/models")->body);
    CHECK(models["data"][0]["id"] == "stories260K.bin");
    CHECK(client.Get("/")->body.find("<canvas id=\"chart\"") != std::string::npos);

    // Not streamed: the reply, why it stopped, and what it used.
    const auto chat = client.Post("/v1/chat/completions", chat_body("Once upon a time", 12).dump(), "application/json");
    REQUIRE(chat);
    REQUIRE(chat->status == 200);
    const json c = json::parse(chat->body);
    CHECK(c["object"] == "chat.completion");
    CHECK(c["choices"][0]["message"]["role"] == "assistant");
    CHECK(c["choices"][0]["finish_reason"] == "length");
    CHECK(c["usage"]["completion_tokens"] == 12);
    CHECK(c["usage"]["total_tokens"] == c["usage"]["prompt_tokens"].get<int>() + 12);

    // Streamed: "data: {...}" events, the text in deltas, a last event with the reason, then [DONE].
    const auto streamed =
        client.Post("/v1/chat/completions", chat_body("Once upon a time", 12, true).dump(), "application/json");
    REQUIRE(streamed);
    CHECK(streamed->get_header_value("Content-Type") == "text/event-stream");
    std::string text, last_reason;
    int events = 0;
    bool done = false;
    for (size_t at = 0, end; (end = streamed->body.find("\n\n", at)) != std::string::npos; at = end + 2) {
        const std::string event = streamed->body.substr(at, end - at);
        REQUIRE(event.rfind("data: ", 0) == 0);
        if (event == "data: [DONE]") {
            done = true;
            continue;
        }
        const json e = json::parse(event.substr(6));
        CHECK(e["object"] == "chat.completion.chunk");
        if (e["choices"][0]["delta"].contains("content"))
            text += e["choices"][0]["delta"]["content"].get<std::string>();
        if (!e["choices"][0]["finish_reason"].is_null()) last_reason = e["choices"][0]["finish_reason"];
        events++;
    }
    CHECK(done);
    CHECK(events >= 12);
    CHECK(last_reason == "length");
    CHECK(text == c["choices"][0]["message"]["content"].get<std::string>());  // greedy: the same reply either way

    // stream_options.include_usage: one more event before [DONE], with no choices and the usage.
    json with_usage = chat_body("Once upon a time", 12, true);
    with_usage["stream_options"] = {{"include_usage", true}};
    const std::string body = client.Post("/v1/chat/completions", with_usage.dump(), "application/json")->body;
    const size_t done_at = body.rfind("data: [DONE]\n\n");
    REQUIRE(done_at != std::string::npos);
    const size_t usage_at = body.rfind("data: ", done_at - 1);
    const json usage_event = json::parse(body.substr(usage_at + 6, done_at - usage_at - 8));
    CHECK(usage_event["choices"].empty());
    CHECK(usage_event["usage"]["completion_tokens"] == 12);
    CHECK(usage_event["usage"]["prompt_tokens"] == c["usage"]["prompt_tokens"]);

    const json completion = json::parse(
        client
            .Post("/v1/completions", json{{"prompt", "Once upon a time"}, {"max_tokens", 6}, {"temperature", 0}}.dump(),
                  "application/json")
            ->body);
    CHECK(completion["object"] == "text_completion");
    CHECK(completion["choices"][0]["text"].get<std::string>().rfind(", there", 0) == 0);

    const json stats = json::parse(client.Get("/stats")->body);
    CHECK(stats["slots"].size() == 2);
    CHECK(stats["policy"] == "weightedkv");
    CHECK(stats["tokens_generated"].get<int>() >= 42);
    CHECK(stats["device_bytes_allocated"].get<uint64_t>() > stats["kv_cache_bytes"].get<uint64_t>());  // weights too
    CHECK(stats["resident_bytes"].get<uint64_t>() > 0);

    // Bad requests: 400 with an error object, nothing left running.
    auto error_of = [&](const std::string& path, const std::string& body) {
        const auto r = client.Post(path, body, "application/json");
        REQUIRE(r);
        CHECK(r->status == 400);
        return json::parse(r->body)["error"];
    };
    CHECK(error_of("/v1/chat/completions", "{not json")["message"] == "the body is not valid JSON");
    CHECK(error_of("/v1/chat/completions", "[1, 2]")["message"] == "the body is not a JSON object");
    CHECK(error_of("/v1/chat/completions", R"({"messages": "hi"})")["param"] == "messages");
    CHECK(error_of("/v1/chat/completions", R"({"messages": [{"role": "robot", "content": "x"}]})")["param"] ==
          "messages");
    CHECK(error_of("/v1/chat/completions", R"({"messages": [{"role": "user", "content": 5}]})")["param"] == "messages");
    CHECK(error_of("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"})")["param"] == "max_tokens");
    CHECK(error_of("/v1/chat/completions",
                   R"({"messages": [{"role": "user", "content": "x"}], "temperature": -1})")["param"] == "temperature");
    CHECK(error_of("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "n": 2})")["param"] ==
          "n");
    CHECK(error_of("/v1/completions", R"({"prompt": ["a"]})")["param"] == "prompt");
    const auto big = client.Post("/v1/chat/completions", std::string(2 << 20, ' '), "application/json");
    REQUIRE(big);
    CHECK(big->status == 413);
    CHECK(client.Get("/v1/nothing")->status == 404);
    CHECK(json::parse(client.Get("/health")->body)["status"] == "ok");  // still serving
}

TEST_CASE("two greedy clients at once get the tokens each gets alone; a client's history continues its conversation") {
    ServerProcess server(stories_server({"--parallel", "2"}));
    auto ask = [&](const json& body) {
        httplib::Client client("127.0.0.1", server.port());
        client.set_read_timeout(60);
        return client.Post("/v1/chat/completions", body.dump(), "application/json");
    };
    const std::string a = reply_text(ask(chat_body("Once upon a time", 40)));
    const std::string b = reply_text(ask(chat_body("The big dog", 40)));
    auto fa = std::async(std::launch::async, [&] { return reply_text(ask(chat_body("Once upon a time", 40))); });
    auto fb = std::async(std::launch::async, [&] { return reply_text(ask(chat_body("The big dog", 40))); });
    CHECK(fa.get() == a);
    CHECK(fb.get() == b);

    // The whole history again: only the new turn is processed, the rest is already in a slot's cache.
    json history = chat_body("Once upon a time", 40);
    history["messages"].push_back({{"role", "assistant"}, {"content", a}});
    history["messages"].push_back({{"role", "user"}, {"content", "And then?"}});
    const auto more = ask(history);
    REQUIRE(more);
    REQUIRE(more->status == 200);
    const json usage = json::parse(more->body)["usage"];
    const int cached = usage["prompt_tokens_details"]["cached_tokens"].get<int>();
    CHECK(cached > 40);  // the first turn and its reply
    // Only "[INST] And then? [/INST]" (in tok512's small vocabulary) and an EOS are new.
    CHECK(usage["prompt_tokens"].get<int>() - cached < 30);
    CHECK(usage["total_tokens"] == usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
}

TEST_CASE(
    "serve --cpu: the same two-slot conversation gives the GPU's greedy text, under weightedkv and the full cache") {
    // WeightedKV at budget 24 evicts and merges within the first reply.
    for (const std::vector<std::string>& policy : {std::vector<std::string>{"--policy", "weightedkv", "--budget", "24"},
                                                   std::vector<std::string>{"--policy", "full"}}) {
        CAPTURE(policy[1]);
        // f32 keys and values: in f16 a value the two engines compute an f32 ulp apart can round to
        // different halves, and the views, which name every head's held positions, would part there.
        std::vector<std::string> args =
            stories_args("", {"--chat-template", "llama2", "--parallel", "2", "--cache-view", "--kv-type", "f32"});
        args.insert(args.end(), policy.begin(), policy.end());
        std::vector<std::string> on_cpu = args;
        on_cpu.push_back("--cpu");
        // Two conversations at once, each of two turns (the second continues in its slot's cache):
        // each turn's text, and the X-Cache-Token of each conversation's last reply.
        struct Conversations {
            std::vector<std::vector<std::string>> text;
            std::vector<std::string> tokens;
        };
        auto converse = [](const ServerProcess& server) {
            auto ask = [&](const json& body, std::string* token) {
                httplib::Client client("127.0.0.1", server.port());
                client.set_read_timeout(120);
                const auto r = client.Post("/v1/chat/completions", body.dump(), "application/json");
                *token = r ? r->get_header_value("X-Cache-Token") : "";
                return reply_text(r);
            };
            auto conversation = [&](const std::string& first, const std::string& second, std::string* token) {
                json body = chat_body(first, 48);
                const std::string one = ask(body, token);
                body["messages"].push_back({{"role", "assistant"}, {"content", one}});
                body["messages"].push_back({{"role", "user"}, {"content", second}});
                return std::vector<std::string>{one, ask(body, token)};
            };
            Conversations c{{}, {"", ""}};
            auto a = std::async(std::launch::async,
                                [&] { return conversation("Once upon a time", "What did she see?", &c.tokens[0]); });
            auto b =
                std::async(std::launch::async, [&] { return conversation("The big dog", "And then?", &c.tokens[1]); });
            c.text = {a.get(), b.get()};
            return c;
        };
        // Each conversation's cache view (GET /v1/cache with its token), reduced to what must be
        // equal on both engines: per position its text and holders, per head the positions and
        // merge counts.
        auto views = [](const ServerProcess& server, const Conversations& c) {
            httplib::Client client("127.0.0.1", server.port());
            std::vector<std::string> out;
            for (const std::string& token : c.tokens) {
                REQUIRE(token.size() == 32);
                const auto res = client.Get("/v1/cache?heads=1", {{"X-Cache-Token", token}});
                REQUIRE(res);
                REQUIRE(res->status == 200);
                const json v = json::parse(res->body);
                json reduced = {v["tokens"], v["evictions"], v["merges"], json::array(), json::array()};
                for (const json& p : v["positions"])
                    reduced[3].push_back({p["pos"], p["text"], p["held"], p["merged"], p["layers"]});
                for (const json& layer : v["heads"])
                    for (const json& head : layer)
                        for (const json& e : head) reduced[4].push_back({e["pos"], e["merged"]});
                out.push_back(reduced.dump());
            }
            return out;
        };
        std::vector<std::vector<std::string>> gpu_text, cpu_text;
        std::vector<std::string> gpu_views, cpu_views;
        {
            ServerProcess gpu(args);
            const Conversations c = converse(gpu);
            gpu_text = c.text;
            gpu_views = views(gpu, c);
        }
        {
            ServerProcess cpu(on_cpu);
            const Conversations c = converse(cpu);
            cpu_text = c.text;
            cpu_views = views(cpu, c);
            httplib::Client client("127.0.0.1", cpu.port());
            const auto stats = client.Get("/stats");
            REQUIRE(stats);
            CHECK(json::parse(stats->body)["device_bytes_allocated"].get<int64_t>() == 0);  // nothing on a device
        }
        CHECK(gpu_text == cpu_text);
        CHECK(gpu_views == cpu_views);
        for (const std::string& v : gpu_views) CHECK(json::parse(v)[0].get<int>() > 40);  // tokens in the slot
        CHECK(gpu_views[0] != gpu_views[1]);
        CHECK(gpu_text[0][0].size() > 40);
        CHECK(gpu_text[0][0] != gpu_text[1][0]);
    }
}

TEST_CASE("a client that disconnects mid-stream frees its slot at once; a full queue answers 503") {
    ServerProcess server(stories_server({"--parallel", "1", "--queue", "0"}));
    {
        // Read a little of a long streamed reply, then hang up.
        httplib::Client client("127.0.0.1", server.port());
        int chunks = 0;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = chat_body("Once upon a time", 100000, true).dump();
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };  // false: hang up
        client.send(req);
        CHECK(chunks == 3);
    }
    // The only slot is free again well before 100000 tokens could have been made.
    httplib::Client client("127.0.0.1", server.port());
    client.set_read_timeout(60);
    std::string text;
    for (int attempt = 0; attempt < 50; attempt++) {
        const auto r = client.Post("/v1/chat/completions", chat_body("Hello", 4).dump(), "application/json");
        REQUIRE(r);
        if (r->status == 200) {
            text = json::parse(r->body)["choices"][0]["message"]["content"];
            break;
        }
        CHECK(r->status == 503);  // at most until the worker's next turn
        ::usleep(100 * 1000);
    }
    CHECK(!text.empty());

    // With the slot busy and no room to wait: 503, an error object.
    auto long_reply = std::async(std::launch::async, [&] {
        httplib::Client c("127.0.0.1", server.port());
        c.set_read_timeout(120);
        return c.Post("/v1/chat/completions", chat_body("Once upon a time", 300).dump(), "application/json");
    });
    ::usleep(300 * 1000);
    const auto busy = client.Post("/v1/chat/completions", chat_body("Hello", 4).dump(), "application/json");
    REQUIRE(busy);
    CHECK(busy->status == 503);
    CHECK(json::parse(busy->body)["error"]["type"] == "server_busy");
    CHECK(long_reply.get()->status == 200);
}

TEST_CASE("the demo page in headless Chromium: it sends a message, shows the reply, and charts the cache") {
    ServerProcess server(stories_server());
    const std::string chromium = "/usr/bin/chromium";
    REQUIRE_MESSAGE(::access(chromium.c_str(), X_OK) == 0,
                    "chromium is not installed (apt-get install chromium; setup.sh does)");
    // The page sends ?say= at once, asking for the reply whole (&stream=0): the virtual clock waits for it,
    // then lets the chart poll. (Streaming is tested over HTTP above.)
    const std::string dom = (temp_dir() / "page.html").string();
    const std::string command =
        chromium +
        " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --virtual-time-budget=8000 "
        "--dump-dom '" +
        server.url() + "/?say=Once%20upon%20a%20time&stream=0' > " + dom + " 2>/dev/null";
    CHECK(std::system(command.c_str()) == 0);
    const std::string page = read_file(dom);
    CHECK_MESSAGE(page.find("data-replies=\"1\"") != std::string::npos, page.substr(0, 2000));
    CHECK(page.find("<div class=\"msg user\">Once upon a time</div>") != std::string::npos);
    const std::regex reply(R"(<div class="msg assistant">([^<]+)</div>)");
    std::smatch m;
    CHECK(std::regex_search(page, m, reply));
    const std::regex points(R"re(data-points="(\d+)")re"), kv(R"re(data-kv-bytes="(\d+)")re");
    std::smatch p, k;
    REQUIRE(std::regex_search(page, p, points));
    CHECK(std::stoi(p[1]) >= 2);  // the chart has been updated after the reply
    REQUIRE(std::regex_search(page, k, kv));
    CHECK(std::stoll(k[1]) > 0);
}

TEST_CASE(
    "the page's cache view in headless Chromium: streaming holds the sinks and the window, weightedkv merges, "
    "gemma3's window layers are drawn as such") {
    const std::string chromium = "/usr/bin/chromium";
    REQUIRE(::access(chromium.c_str(), X_OK) == 0);
    auto body_of = [&](const std::string& name, std::vector<std::string> args) {
        ServerProcess server(std::move(args));
        const std::string dom = (temp_dir() / ("view_" + name + ".html")).string();
        const std::string command = chromium +
                                    " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
                                    "--virtual-time-budget=8000 --dump-dom '" +
                                    server.url() + "/?say=Once%20upon%20a%20time&stream=0' > " + dom + " 2>/dev/null";
        CHECK(std::system(command.c_str()) == 0);
        const std::string page = read_file(dom);
        std::smatch m;
        REQUIRE_MESSAGE(std::regex_search(page, m, std::regex("<body[^>]*>")), page.substr(0, 1000));
        return m.str();
    };
    auto number = [](const std::string& body, const std::string& name) {
        std::smatch m;
        REQUIRE_MESSAGE(std::regex_search(body, m, std::regex(name + "=\"([0-9.]+)\"")), body);
        return std::stod(m[1]);
    };
    // "[INST] Once upon a time [/INST]" and a reply of up to 128 tokens: more than the budget of 24.
    auto stories = [&](const std::string& policy) {
        return body_of(policy, stories_args("", {"--chat-template", "llama2", "--policy", policy, "--budget", "24",
                                                 "--cache-view"}));
    };
    const std::string streaming = stories("streaming");
    const double tokens = number(streaming, "data-view-tokens");
    CHECK(tokens > 24);
    CHECK(number(streaming, "data-held-first") == 1.0);            // the first sink, in every layer and head
    CHECK(number(streaming, "data-held-last") == 1.0);             // the newest token
    CHECK(number(streaming, "data-view-evicted") == tokens - 24);  // all but the 4 sinks and the window of 20
    CHECK(number(streaming, "data-view-merged") == 0);
    const std::string weighted = stories("weightedkv");
    CHECK(number(weighted, "data-held-first") == 1.0);
    CHECK(number(weighted, "data-held-last") == 1.0);
    CHECK(number(weighted, "data-view-merged") > 0);  // held values that absorbed evicted ones
    CHECK(number(weighted, "data-view-evicted") <
          number(weighted, "data-view-tokens") - 24);  // held in some heads only
    CHECK(number(weighted, "data-window-layers") == 0);
    // Gemma 3 (window 8 in layers 0 and 1, layer 2 global): the window layers are drawn apart, and
    // the first token, a sink of the global layer's WeightedKV, is gone from both window layers.
    const std::string gemma3 = body_of("gemma3", {"-m", shared_file("models/arch/gemma3-random.gguf"), "--policy",
                                                  "weightedkv", "--budget", "24", "--cache-view"});
    CHECK(number(gemma3, "data-window-layers") == 2);
    CHECK(number(gemma3, "data-view-tokens") > 24);
    CHECK(number(gemma3, "data-held-first") == 0.333);  // 1 of 3 layers (the page writes 3 decimals)
    CHECK(number(gemma3, "data-held-last") == 1.0);
}

}  // TEST_SUITE("serve")
