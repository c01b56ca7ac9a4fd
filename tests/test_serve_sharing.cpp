// wkv serve shared by people who must not see each other's conversations, and
// whose failures must stay their own (issue 33; docs/hardening.md lists each
// defect): the cache view behind a per-reply credential, reads that never wait
// for the worker, a slot that fails alone, seeds of their own, non-finite
// logits caught, the OpenAI fields of today's clients, malformed headers.
#include <doctest/doctest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cmath>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cpu_engine.hpp"
#include "poisoned_model.hpp"
#include "serve_slots.hpp"
#include "serve_support.hpp"
#include "support.hpp"

using namespace wkv;
using namespace wkv::test;
using json = nlohmann::json;

namespace {

const std::string kSecret = "The launch code is 7741-ALPHA and my password is hunter2.";

json chat(const json& messages, int max_tokens, bool stream = false) {
    return {{"messages", messages}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", stream}};
}

json user_says(const std::string& text) { return json::array({{{"role", "user"}, {"content", text}}}); }

// A chat reply's text and the X-Cache-Token it carried.
struct Reply {
    int status = 0;
    std::string text, token;
    json body;
};
Reply ask(int port, const std::string& path, const json& body, const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(120);
    const auto r = client.Post(path, headers, body.dump(), "application/json");
    REQUIRE(r);
    Reply reply{r->status, "", r->get_header_value("X-Cache-Token"), json::parse(r->body)};
    if (r->status == 200) {
        const json& c = reply.body["choices"][0];
        reply.text = c.contains("message") ? c["message"]["content"].get<std::string>() : c["text"].get<std::string>();
    }
    return reply;
}

// GET /v1/cache with these headers: the status, and the text of every position the view shows.
std::pair<int, std::string> read_view(int port, const httplib::Headers& headers, const std::string& query = "") {
    httplib::Client client("127.0.0.1", port);
    const auto r = client.Get("/v1/cache" + query, headers);
    REQUIRE(r);
    std::string text;
    if (r->status == 200) {
        const json view = json::parse(r->body);
        for (const json& p : view["positions"]) text += p["text"].get<std::string>();
    }
    return {r->status, text};
}

// stories260K with these tokens' embedding rows NaN, its classifier untied: a prompt holding one
// gives logits that are not finite in its own sequence only.
std::string poisoned_stories(const std::string& name, std::initializer_list<int32_t> rows) {
    const std::string path = (temp_dir() / name).string();
    REQUIRE(write_poisoned_llama2c(shared_file("models/stories260K.bin"), path, rows, /*untie=*/true));
    return path;
}

constexpr int32_t kPoisonedToken = 456;  // tok512's 'q': "Zed quux" holds it, "Once upon a time" and its story do not

std::vector<std::string> poisoned_server(std::initializer_list<std::string> more) {
    std::vector<std::string> a = {"-m",       poisoned_stories("poisoned_q.bin", {kPoisonedToken}),
                                  "-t",       shared_file("models/tok512.bin"),
                                  "--policy", "weightedkv",
                                  "--budget", "64"};
    a.insert(a.end(), more);
    return a;
}

// A streamed completion's text, whole.
std::string stream_completion(int port, const std::string& prompt, int max_tokens, std::string* finish = nullptr) {
    const std::string body =
        post(port, "/v1/completions",
             {{"prompt", prompt}, {"max_tokens", max_tokens}, {"temperature", 0}, {"stream", true}}, 120);
    bool done = false;
    const std::vector<json> events = events_of(body, &done);
    CHECK(done);
    if (finish) {
        for (const json& e : events) {
            if (!e["choices"].empty() && !e["choices"][0]["finish_reason"].is_null())
                *finish = e["choices"][0]["finish_reason"];
        }
    }
    return streamed_text(events);
}

}  // namespace

TEST_SUITE("serve") {

TEST_CASE(
    "--cache-view: a reply's cache is read only with the token it handed out; no slot, token or header shows "
    "another's") {
    ServerProcess server(stories_server({"--parallel", "2", "--cache-view"}));
    const int port = server.port();
    const json secret =
        json::array({{{"role", "system"}, {"content", kSecret}}, {{"role", "user"}, {"content", "Once upon a time"}}});
    const Reply a = ask(port, "/v1/chat/completions", chat(secret, 8));
    REQUIRE(a.status == 200);
    REQUIRE(a.token.size() == 32);
    const auto [a_status, a_text] = read_view(port, {{"X-Cache-Token", a.token}});
    CHECK(a_status == 200);
    CHECK(a_text.find("7741") != std::string::npos);  // its own client sees it all
    {
        // A poller that has the view gets a 304 with no body until it changes.
        httplib::Client client("127.0.0.1", port);
        const auto first = client.Get("/v1/cache", {{"X-Cache-Token", a.token}});
        REQUIRE(first);
        const std::string etag = first->get_header_value("ETag");
        CHECK(etag.size() > 2);
        const auto again = client.Get("/v1/cache", {{"X-Cache-Token", a.token}, {"If-None-Match", etag}});
        REQUIRE(again);
        CHECK(again->status == 304);
        CHECK(again->body.empty());
        const auto heads = client.Get("/v1/cache?heads=1", {{"X-Cache-Token", a.token}, {"If-None-Match", etag}});
        REQUIRE(heads);
        CHECK(heads->status == 200);  // another rendering, another tag
        CHECK(heads->get_header_value("ETag") != etag);
    }

    const Reply b = ask(port, "/v1/chat/completions", chat(user_says("The big dog"), 8));
    REQUIRE(b.status == 200);
    CHECK(b.token != a.token);
    const auto [b_status, b_text] = read_view(port, {{"X-Cache-Token", b.token}});
    CHECK(b_status == 200);
    CHECK(b_text.find("big") != std::string::npos);
    // Whatever B sends, it reads its own conversation or nothing.
    std::string wrong = a.token;
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    for (const auto& [headers, query, status] : std::vector<std::tuple<httplib::Headers, std::string, int>>{
             {{}, "", 400},
             {{{"X-Cache-Token", ""}}, "", 400},
             {{{"X-Cache-Token", wrong}}, "", 404},
             {{{"X-Cache-Token", a.token.substr(0, 31)}}, "", 404},
             {{{"X-Cache-Token", std::string(32, '0')}}, "", 404},
             {{{"X-Cache-Token", b.token}}, "?slot=0", 200},
             {{{"X-Cache-Token", b.token}}, "?slot=1", 200},
             {{{"X-Cache-Token", b.token}}, "?token=" + a.token, 200},
             {{{"X-Cache-Token", b.token}, {"X-Conversation-Id", "a"}}, "?heads=1", 200},
         }) {
        const auto [got, text] = read_view(port, headers, query);
        CHECK_MESSAGE(got == status, query);
        CHECK(text.find("7741") == std::string::npos);
        CHECK(text.find("hunter2") == std::string::npos);
    }
    // Nothing else a client can read holds conversation text.
    httplib::Client client("127.0.0.1", port);
    for (const char* path : {"/stats", "/metrics", "/v1/models", "/health"}) {
        const auto r = client.Get(path);
        REQUIRE(r);
        CHECK(r->body.find("7741") == std::string::npos);
    }
}

TEST_CASE(
    "a new conversation that takes a slot voids the last reply's token, and its view shows nothing of the old "
    "text") {
    ServerProcess server(stories_server({"--parallel", "1", "--cache-view"}));
    const int port = server.port();
    const json secret =
        json::array({{{"role", "system"}, {"content", kSecret}}, {{"role", "user"}, {"content", "Once upon a time"}}});
    const Reply a = ask(port, "/v1/chat/completions", chat(secret, 8));
    REQUIRE(a.status == 200);
    CHECK(read_view(port, {{"X-Cache-Token", a.token}}).first == 200);
    // The same conversation continued keeps the slot, under the new reply's token only.
    json more = secret;
    more.push_back({{"role", "assistant"}, {"content", a.text}});
    more.push_back({{"role", "user"}, {"content", "And then?"}});
    const Reply a2 = ask(port, "/v1/chat/completions", chat(more, 8));
    REQUIRE(a2.status == 200);
    CHECK(a2.body["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>() > 0);
    CHECK(read_view(port, {{"X-Cache-Token", a.token}}).first == 404);
    CHECK(read_view(port, {{"X-Cache-Token", a2.token}}).second.find("7741") != std::string::npos);
    // Another conversation takes the only slot: A's token is void, B sees only its own text.
    const Reply b = ask(port, "/v1/completions", {{"prompt", "The big dog"}, {"max_tokens", 8}, {"temperature", 0}});
    REQUIRE(b.status == 200);
    CHECK(read_view(port, {{"X-Cache-Token", a2.token}}).first == 404);
    const auto [status, text] = read_view(port, {{"X-Cache-Token", b.token}});
    CHECK(status == 200);
    CHECK(text.find("big") != std::string::npos);
    CHECK(text.find("7741") == std::string::npos);
}

TEST_CASE(
    "without --cache-view nothing exposes a conversation: /v1/cache is a 404 even with the API key, and replies "
    "carry no token") {
    ServerProcess server(stories_server({"--api-key", "k3y-for-the-test"}));
    const int port = server.port();
    const httplib::Headers key = {{"Authorization", "Bearer k3y-for-the-test"}};
    const Reply a = ask(port, "/v1/chat/completions",
                        chat(json::array({{{"role", "system"}, {"content", kSecret}},
                                          {{"role", "user"}, {"content", "Once upon a time"}}}),
                             8),
                        key);
    REQUIRE(a.status == 200);
    CHECK(a.token.empty());
    httplib::Client client("127.0.0.1", port);
    for (const char* path : {"/v1/cache", "/v1/cache?slot=0", "/v1/cache?slot=0&heads=1"}) {
        const auto r = client.Get(path, key);
        REQUIRE(r);
        CHECK(r->status == 404);
        CHECK(r->body.find("7741") == std::string::npos);
        CHECK(client.Get(path)->status == 401);
    }
    for (const char* path : {"/stats", "/metrics"})
        CHECK(client.Get(path, key)->body.find("7741") == std::string::npos);
}

TEST_CASE(
    "8 readers of a reply's view while it streams: every read is answered, none is a 503, and the reply is the "
    "same as with no readers") {
    ServerProcess server(stories_server({"--parallel", "2", "--cache-view"}));
    const int port = server.port();
    const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 150}, {"temperature", 0}, {"stream", true}};
    const std::string alone = streamed_text([&] {
        bool done = false;
        return events_of(post(port, "/v1/completions", body, 120), &done);
    }());
    REQUIRE(alone.size() > 150);

    // The same request, with its token read from the headers as soon as they come.
    std::string token, streamed;
    std::atomic<bool> started{false}, finished{false};
    std::map<int, int> statuses;
    std::mutex statuses_mutex;
    auto stream = std::async(std::launch::async, [&] {
        httplib::Client client("127.0.0.1", port);
        client.set_read_timeout(120);
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/completions";
        req.body = body.dump();
        req.set_header("Content-Type", "application/json");
        req.response_handler = [&](const httplib::Response& r) {
            token = r.get_header_value("X-Cache-Token");
            return true;
        };
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
            streamed.append(data, n);
            started = true;  // the job runs: its view has been published
            return true;
        };
        client.send(req);
        finished = true;
    });
    while (!started && !finished) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::vector<std::thread> readers;
    for (int r = 0; r < 8; r++) {
        readers.emplace_back([&] {
            httplib::Client client("127.0.0.1", port);
            client.set_read_timeout(10);
            while (!finished) {
                const auto res = client.Get("/v1/cache?heads=1", {{"X-Cache-Token", token}});
                std::lock_guard<std::mutex> lock(statuses_mutex);
                statuses[res ? res->status : -1]++;
            }
        });
    }
    stream.get();
    for (std::thread& t : readers) t.join();
    bool done = false;
    CHECK(streamed_text(events_of(streamed, &done)) == alone);
    CHECK(done);
    CHECK(statuses.size() == 1);
    CHECK(statuses[200] > 8);
}

TEST_CASE(
    "one slot's failure ends only its reply: logits that are not finite fail it with a 500 while another slot "
    "streams, byte for byte as alone") {
    for (const bool cpu : {false, true}) {
        CAPTURE(cpu);
        ServerProcess server(cpu ? poisoned_server({"--parallel", "2", "--cpu"})
                                 : poisoned_server({"--parallel", "2"}));
        const int port = server.port();
        std::string finish;
        const std::string alone = stream_completion(port, "Once upon a time", 120, &finish);
        CHECK(finish == "length");
        auto streaming = std::async(std::launch::async, [&] {
            std::string f;
            std::string text = stream_completion(port, "Once upon a time", 120, &f);
            return std::make_pair(text, f);
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        int status = 0;
        const json failed = json::parse(post(
            port, "/v1/completions", {{"prompt", "Zed quux"}, {"max_tokens", 50}, {"temperature", 0}}, 60, &status));
        CHECK(status == 500);
        CHECK(failed["error"]["type"] == "server_error");
        CHECK(failed["error"]["message"].get<std::string>().find("not finite") != std::string::npos);
        const auto [text, reason] = streaming.get();
        CHECK(text == alone);
        CHECK(reason == "length");
        // Streamed, the failure is the stream's last event before [DONE].
        bool done = false;
        const std::vector<json> events =
            events_of(post(port, "/v1/completions",
                           {{"prompt", "Zed quux"}, {"max_tokens", 5}, {"temperature", 1}, {"stream", true}}),
                      &done);
        CHECK(done);
        REQUIRE(!events.empty());
        CHECK(events.back()["error"]["type"] == "server_error");
        // The server lives on, the failed slot too.
        CHECK(stream_completion(port, "Once upon a time", 120) == alone);
    }
}

TEST_CASE(
    "SlotPool: a slot whose cache fills mid-reply fails alone; the other reply is byte for byte the one it "
    "gives alone") {
    // The engine's second sequence has a full cache of 40 entries, while the pool believes every
    // slot compresses: its steps are refused by the engine itself once the cache is full.
    const Model model = load_model(shared_file("models/stories260K.bin"));
    const Tokenizer tokenizer = Tokenizer::load(shared_file("models/tok512.bin"));
    PolicyRequest weightedkv;
    weightedkv.kind = PolicyKind::weightedkv;
    weightedkv.budget = 64;
    CacheSettings compressing;
    compressing.policy = resolve_policy(weightedkv, model.config.context);
    auto run = [&](Engine& engine, const std::vector<std::string>& prompts) {
        SlotPool pool(engine, model.config, tokenizer, std::nullopt, compressing, 4, 0);
        std::vector<std::shared_ptr<Job>> jobs;
        for (const std::string& prompt : prompts) {
            auto job = std::make_shared<Job>();
            job->prompt = prompt;
            job->max_tokens = 100;
            job->max_tokens_given = true;
            job->sampling.temperature = 0;
            REQUIRE(pool.submit(job));
            jobs.push_back(job);
        }
        std::vector<std::pair<std::string, Job::Finish>> out;
        for (const auto& job : jobs) {
            std::string text;
            Job::Finish finish = Job::Finish::none;
            while (finish == Job::Finish::none) text += job->next(1000, &finish);
            out.emplace_back(text, finish);
        }
        return out;
    };
    const CacheSettings small_full = full_cache(40);
    for (const bool gpu : {false, true}) {
        CAPTURE(gpu);
        auto engine_for = [&](std::vector<CacheSettings> sequences) -> std::unique_ptr<Engine> {
            if (gpu) return make_gpu_engine(validated_context(), model, std::move(sequences));
            return std::make_unique<CpuEngine>(model, std::move(sequences));
        };
        const auto alone_engine = engine_for({compressing});
        const auto alone = run(*alone_engine, {"Once upon a time"});
        REQUIRE(alone[0].second == Job::Finish::length);
        const auto shared_engine = engine_for({compressing, small_full});
        const auto both = run(*shared_engine, {"Once upon a time", "The big dog"});
        CHECK(both[0].first == alone[0].first);
        CHECK(both[0].second == Job::Finish::length);
        CHECK(both[1].second == Job::Finish::failed);
    }
    check_no_validation_messages();
}

TEST_CASE("a request without a seed samples with one of its own, and the reply names it: that seed repeats the text") {
    ServerProcess server(stories_server({"--parallel", "2"}));
    const int port = server.port();
    std::set<std::string> texts;
    std::set<uint64_t> seeds;
    for (int i = 0; i < 4; i++) {
        const Reply r =
            ask(port, "/v1/completions", {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 1}});
        REQUIRE(r.status == 200);
        texts.insert(r.text);
        const uint64_t seed = r.body["seed"].get<uint64_t>();
        seeds.insert(seed);
        CHECK(seed > 0);
        CHECK(seed < (uint64_t{1} << 53));
        const Reply again =
            ask(port, "/v1/completions",
                {{"prompt", "Once upon a time"}, {"max_tokens", 24}, {"temperature", 1}, {"seed", seed}});
        CHECK(again.text == r.text);
        CHECK(again.body["seed"] == seed);
    }
    CHECK(seeds.size() == 4);
    CHECK(texts.size() > 1);
    // Streamed, the last event names it too.
    bool done = false;
    const std::vector<json> events = events_of(
        post(port, "/v1/completions", {{"prompt", "Once"}, {"max_tokens", 4}, {"stream", true}, {"seed", 7}}), &done);
    REQUIRE(!events.empty());
    CHECK(events.back()["seed"] == 7);
}

TEST_CASE("non-finite logits: generate and ppl stop with one line and exit code 4, on the CPU and on Vulkan") {
    const std::string nan_model = poisoned_stories("poisoned_bos.bin", {1});  // BOS starts every prompt
    const std::string tok = shared_file("models/tok512.bin");
    for (const std::vector<std::string>& extra : {std::vector<std::string>{}, std::vector<std::string>{"--cpu"}}) {
        for (const char* temp : {"0", "1"}) {
            std::vector<std::string> args = {"generate", "-m", nan_model, "-t", tok,      "-p", "Once",
                                             "-n",       "8",  "--temp",  temp, "--seed", "1"};
            args.insert(args.end(), extra.begin(), extra.end());
            const RunResult r = run_wkv(args);
            CHECK(r.exit_code == 4);
            CHECK(r.err.find("not finite (NaN or infinity)") != std::string::npos);
            CHECK(r.out.find('\0') == std::string::npos);
        }
        const std::string text = (temp_dir() / "nan_ppl.txt").string();
        const std::string story = "Once upon a time there was a little girl named Lily. She loved to play outside.";
        write_file(text, std::vector<uint8_t>(story.begin(), story.end()));
        std::vector<std::string> ppl = {"ppl", "-m", nan_model, "-t", tok, "-f", text, "--ctx", "16"};
        ppl.insert(ppl.end(), extra.begin(), extra.end());
        check_one_line_error(run_wkv(ppl), 4, "not finite");
    }
}

TEST_CASE(
    "max_completion_tokens is today's max_tokens; without either, a full cache caps the reply at what it can "
    "hold") {
    ServerProcess server(stories_args("", {"--policy", "full", "--budget", "64", "--n-predict", "1000"}));
    const int port = server.port();
    const json prompt = {{"prompt", "Once upon a time"}, {"temperature", 0}};
    json three = prompt;
    three["max_completion_tokens"] = 3;
    CHECK(ask(port, "/v1/completions", three).body["usage"]["completion_tokens"] == 3);
    three["max_tokens"] = 3;
    CHECK(ask(port, "/v1/completions", three).status == 200);
    three["max_tokens"] = 4;
    const Reply differ = ask(port, "/v1/completions", three);
    CHECK(differ.status == 400);
    CHECK(differ.body["error"]["param"] == "max_completion_tokens");
    // No cap asked for: the server's default (1000) cut to the 64-entry cache's room.
    const Reply capped = ask(port, "/v1/completions", prompt);
    REQUIRE(capped.status == 200);
    const int prompt_tokens = capped.body["usage"]["prompt_tokens"];
    const int room = 64 - prompt_tokens + 1;
    const int generated = capped.body["usage"]["completion_tokens"];
    CHECK(generated <= room);
    if (capped.body["choices"][0]["finish_reason"] == "length") CHECK(generated == room);
    // Asked for more than the room: refused before it runs, naming the field and the limit.
    json too_many = prompt;
    too_many["max_tokens"] = room + 1;
    const Reply refused = ask(port, "/v1/completions", too_many);
    CHECK(refused.status == 400);
    CHECK(refused.body["error"]["param"] == "max_tokens");
    CHECK(refused.body["error"]["message"].get<std::string>().find("full cache of 64 entries") != std::string::npos);
    too_many["max_tokens"] = room;
    CHECK(ask(port, "/v1/completions", too_many).status == 200);
}

TEST_CASE(
    "headers: a control character in a value, or a second Host, is a 400; a closing reply says "
    "'Connection: close' once") {
    ServerProcess server(stories_server({"--api-key", "k3y"}));
    const int port = server.port();
    auto status_of = [](const std::string& raw) { return raw.substr(0, 12); };
    const std::string nul(1, '\0');
    CHECK(
        status_of(send_raw(port, "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k3y\r\n\r\n")) ==
        "HTTP/1.1 200");
    for (const std::string& request : std::vector<std::string>{
             "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k3y" + nul + "junk\r\n\r\n",
             "GET /v1/models HTTP/1.1\r\nHost: localhost" + nul + ".evil.com\r\nAuthorization: Bearer k3y\r\n\r\n",
             "GET /v1/models HTTP/1.1\r\nHost: localhost\r\nHost: evil.com\r\nAuthorization: Bearer k3y\r\n\r\n",
             "GET /health HTTP/1.1\r\nHost: localhost\r\nX-Note: a\x1b[2Jb\r\n\r\n",
         }) {
        const std::string got = send_raw(port, request);
        CHECK(status_of(got) == "HTTP/1.1 400");
        CHECK(body_of(got)["error"]["type"] == "invalid_request_error");
    }
    // Refusals and errors the HTTP layer answers: one Connection header, no Keep-Alive beside it.
    for (const std::string& request : {
             std::string("GET /nothing HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k3y\r\n\r\n"),
             std::string("GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n"),
             std::string("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer k3y\r\n"
                         "Content-Length: 2000000\r\n\r\n"),
             std::string("GET /health HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n"),
             std::string("this is not http\r\n\r\n"),
         }) {
        const std::string got = send_raw(port, request);
        const std::string head = got.substr(0, got.find("\r\n\r\n"));
        CAPTURE(head);
        size_t connection = 0;
        for (size_t at = head.find("\r\nConnection:"); at != std::string::npos;
             at = head.find("\r\nConnection:", at + 1))
            connection++;
        CHECK(connection == 1);
        CHECK(head.find("Keep-Alive") == std::string::npos);
    }
}

TEST_CASE("/metrics answers while the server drains: the last scrape is not lost") {
    ServerProcess server(stories_server({"--drain-seconds", "60"}));
    const int port = server.port();
    auto stream = std::async(std::launch::async, [&] {
        return post(port, "/v1/completions",
                    {{"prompt", "Once upon a time"}, {"max_tokens", 3000}, {"temperature", 0}, {"stream", true}}, 120);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(server.pid(), SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    httplib::Client client("127.0.0.1", port);
    const auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
    CHECK(metrics->body.find("wkv_requests_queued") != std::string::npos);
    CHECK(client.Get("/health")->status == 503);
    CHECK(client.Get("/v1/models")->status == 503);
    // A second signal ends the drain at once: the stream ends with the shutdown event, whole.
    const RunResult stopped = server.stop(SIGINT);
    bool done = false;
    events_of(stream.get(), &done);
    CHECK(done);
    CHECK(stopped.exit_code == 0);
}

}  // TEST_SUITE("serve")
