// wkv needle, and the constructed retrieval model it is an instrument on.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "model/random_model.hpp"
#include "model/retrieval_model.hpp"
#include "tests/support.hpp"

using namespace wkv;
using namespace wkv::test;
namespace fs = std::filesystem;

namespace {

const std::string& retrieval_model_path() {
    static const std::string path = [] {
        const std::string p = (temp_dir() / "retrieval.f32.gguf").string();
        write_file(p, retrieval_llama_gguf(kGgmlF32));
        return p;
    }();
    return path;
}

// wkv needle ARGS --json FILE, which must succeed; its JSON.
Json needle_json(std::vector<std::string> args, const std::string& name) {
    const std::string json = (temp_dir() / (name + ".json")).string();
    args.insert(args.begin(), "needle");
    args.insert(args.end(), {"--json", json});
    const RunResult r = run_wkv(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    return parse_json(read_file(json));
}

// The trials' outcomes (those numbered below `trials`), without what differs by engine.
std::vector<std::string> outcomes(const Json& doc, int trials = 1 << 30) {
    std::vector<std::string> out;
    for (const Json& t : doc["trials"])
        if (t["trial"].get<int>() < trials)
            out.push_back(t["policy"].get<std::string>() + " " + t["length"].dump() + " " + t["depth"].dump() + " " +
                          t["key"].get<std::string>() + " -> " + t["answer"].get<std::string>());
    return out;
}

}  // namespace

TEST_SUITE("needle") {
TEST_CASE("the constructed retrieval model finds the key from every depth with the full cache, CPU and GPU alike") {
    const std::vector<std::string> args = {
        "-m", retrieval_model_path(), "--lengths", "120,260", "--depths", "0,0.5,1", "--policy", "full"};
    std::vector<std::string> gpu_args = args, cpu_args = args;
    gpu_args.insert(gpu_args.end(), {"--trials", "2"});
    cpu_args.insert(cpu_args.end(), {"--trials", "1", "--cpu"});  // the CPU reference is slow: the first key
    const Json gpu = needle_json(gpu_args, "retrieval_gpu");
    const Json cpu = needle_json(cpu_args, "retrieval_cpu");
    REQUIRE(gpu["results"].size() == 6);
    for (const Json& cell : gpu["results"]) {
        CAPTURE(cell.dump());
        CHECK(cell["passed"] == 2);
    }
    // The reply is the key, then the needle's own continuation, copied token by token.
    for (const Json& t : gpu["trials"]) {
        CAPTURE(t.dump());
        CHECK(t["answer"].get<std::string>().rfind(" " + t["key"].get<std::string>() + ". Remember it.", 0) == 0);
    }
    CHECK(outcomes(cpu).size() == 6);
    CHECK(outcomes(cpu) == outcomes(gpu, 1));

    // Further than the short test above, on the device only: up to the model's context.
    const Json far = needle_json({"-m", retrieval_model_path(), "--lengths", "2000", "--depths", "0,0.5", "--trials",
                                  "1", "--policy", "full", "--kv-type", "q8_0"},
                                 "retrieval_far");
    for (const Json& cell : far["results"]) CHECK(cell["passed"] == 1);
}

TEST_CASE("StreamingLLM finds exactly the needles inside its window of budget - sinks tokens") {
    const Json doc = needle_json({"-m", retrieval_model_path(), "--lengths", "300,600", "--depths", "0,0.5,0.9,1",
                                  "--trials", "2", "--policy", "streaming", "--budget", "128", "--sinks", "4"},
                                 "retrieval_streaming");
    int inside = 0, outside = 0;
    for (const Json& t : doc["trials"]) {
        CAPTURE(t.dump());
        // How far back the key is from the prompt's end; the reply's five digits slide the window five more.
        const int distance = t["tokens"].get<int>() - t["key_at"].get<int>();
        if (distance <= 128 - 4 - 8) {
            CHECK(t["passed"] == true);
            inside++;
        } else if (distance > 128 - 4) {
            CHECK(t["passed"] == false);
            outside++;
        }
    }
    CHECK(inside >= 6);  // the cases are really there
    CHECK(outside >= 8);
}

TEST_CASE("wkv needle runs on every architecture file and on the eval model, the same trials on the CPU and GPU") {
    std::vector<std::string> models;
    for (const char* arch : {"llama3", "qwen2", "qwen3", "gemma3", "phi3", "smollm3", "granite"})
        models.push_back(shared_file(std::string("models/arch/") + arch + "-random.gguf"));
    models.push_back(shared_file("models/wkv-eval-8m.f16.gguf"));
    for (const std::string& model : models) {
        CAPTURE(model);
        const bool eval = model.find("eval") != std::string::npos;
        const std::vector<std::string> args = {
            "-m",       model, "--lengths", eval ? "60,100" : "170,230", "--depths", "0,1",
            "--trials", "1",   "--policy",  "full,h2o,weightedkv",       "--budget", "64"};
        const Json gpu = needle_json(args, "arch_gpu");
        std::vector<std::string> cpu_args = args;
        cpu_args.push_back("--cpu");
        const Json cpu = needle_json(cpu_args, "arch_cpu");
        CHECK(gpu["trials"].size() == 12);
        CHECK(outcomes(cpu) == outcomes(gpu));
    }
}

TEST_CASE("the heat maps in headless Chromium: one per setting") {
    const std::string svg = (temp_dir() / "needle.svg").string(), dom = (temp_dir() / "needle_dom.xml").string();
    const RunResult r = run_wkv({"needle", "-m", retrieval_model_path(), "--lengths", "150,250", "--depths", "0,1",
                                 "--trials", "1", "--policy", "full,streaming,h2o", "--budget", "64", "--svg", svg});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    const std::string chromium = "/usr/bin/chromium";
    REQUIRE_MESSAGE(::access(chromium.c_str(), X_OK) == 0,
                    "chromium is not installed (apt-get install chromium; setup.sh does)");
    const std::string command = chromium +
                                " --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --dump-dom 'file://" +
                                svg + "' > " + dom + " 2>/dev/null";
    CHECK(std::system(command.c_str()) == 0);
    const std::string page = read_file(dom);
    CAPTURE(page.substr(0, 600));
    CHECK(page.find("parsererror") == std::string::npos);
    const std::regex map(R"re(<g class="heatmap" data-policy="([a-z0-9]+)")re");
    std::vector<std::string> policies;
    for (auto it = std::sregex_iterator(page.begin(), page.end(), map); it != std::sregex_iterator(); ++it)
        policies.push_back((*it)[1]);
    CHECK(policies == std::vector<std::string>{"full", "streaming", "h2o"});
    // Each map has a cell per length and depth, coloured by what was found: the full cache everything.
    CHECK(std::count(page.begin(), page.end(), '\n') > 0);
    const std::regex full_cell(R"re(<rect class="cell"[^>]*data-accuracy="1")re");
    CHECK(std::distance(std::sregex_iterator(page.begin(), page.end(), full_cell), std::sregex_iterator()) >= 4);
}

TEST_CASE("wkv needle refuses bad input in one line, exit 2, and writes nothing") {
    const std::string json = (temp_dir() / "refused.json").string(), svg = (temp_dir() / "refused.svg").string();
    const std::string short_filler = (temp_dir() / "short.txt").string();
    write_file(short_filler, std::vector<uint8_t>{'t', 'o', 'o', ' ', 's', 'h', 'o', 'r', 't'});
    const std::string& m = retrieval_model_path();
    for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--lengths", "3000"}, "--lengths 3000 and 16 answer tokens pass the model's context of 2048"},
             {{"--lengths", "100", "--depths", "0,1.5"}, "--depths: '1.5' is not a depth from 0 to 1"},
             {{"--lengths", "100", "--depths", "-0.1"}, "--depths: '-0.1' is not a depth from 0 to 1"},
             {{"--lengths", "100", "--depths", "nan"}, "--depths: 'nan' is not a depth from 0 to 1"},
             {{"--lengths", "500", "-f", short_filler}, "short.txt: its 2 words make a prompt of"},
             {{"--lengths", "100", "--needle", "the key is hidden"}, "has no {key} where the key goes"},
             {{"--lengths", "20"}, "--lengths 20 is shorter than the prompt without filler"},
             {{"--raw", "--chat-template", "chatml"}, "--raw and --chat-template contradict each other"},
         }) {
        CAPTURE(message);
        std::vector<std::string> all = {"needle", "-m", m, "--json", json, "--svg", svg};
        all.insert(all.end(), args.begin(), args.end());
        check_one_line_error(run_wkv(all), 2, message);
        CHECK_FALSE(fs::exists(json));
        CHECK_FALSE(fs::exists(svg));
    }
}
}
