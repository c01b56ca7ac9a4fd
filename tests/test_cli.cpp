// The wkv program as a user meets it: exit codes, help, stdout carrying only
// the generated text, one-line errors for bad input.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "cli/cache_trace.hpp"
#include "support.hpp"

using namespace wkv::test;
using wkv::CacheTrace, wkv::CacheView, wkv::HeldEntry;

namespace {

std::string last_line(const std::string& text) {
    std::string t = text;
    while (!t.empty() && t.back() == '\n') t.pop_back();
    const size_t nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

}  // namespace

TEST_SUITE("cli") {

TEST_CASE("help and usage errors") {
    const RunResult help = run_wkv({"--help"});
    CHECK(help.exit_code == 0);
    // A line per command, its summary one whole sentence.
    const std::regex command_line(R"(  [a-z]+ +[A-Z][^.]*[^ .]\.)");
    int commands = 0;
    std::istringstream lines(help.out);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("  ", 0) != 0) continue;
        CHECK_MESSAGE(std::regex_match(line, command_line), line);
        commands++;
    }
    CHECK(commands == 11);

    for (const char* flag : {"--version", "-V"}) {
        const RunResult version = run_wkv({flag});
        CHECK(version.exit_code == 0);
        CHECK_MESSAGE(
            std::regex_match(version.out,
                             std::regex(R"(wkv 0\.1\.0 \(commit [0-9a-f]{12}(-modified)?, [A-Za-z]+ build\)\n)")),
            version.out);
        check_one_line_error(run_wkv({flag, "extra"}), 2, "takes no arguments; 'extra' is one too many");
    }

    const RunResult generate_help = run_wkv({"generate", "--help"});
    CHECK(generate_help.exit_code == 0);
    for (const char* flag : {"-m, --model", "-t, --tokenizer", "-p, --prompt", "-n, --n-predict", "-c, --ctx-size",
                             "--temp", "--top-p", "--seed", "--cpu"}) {
        CHECK_MESSAGE(generate_help.out.find(flag) != std::string::npos, flag);
    }

    CHECK(run_wkv({}).exit_code == 2);
    check_one_line_error(run_wkv({"frobnicate"}), 2, "unknown command 'frobnicate'");
    check_one_line_error(run_wkv({"generate", "--bogus"}), 2, "unknown flag '--bogus'");
    check_one_line_error(run_wkv({"generate", "-m"}), 2, "needs a value");
    check_one_line_error(run_wkv({"generate", "stray"}), 2, "unexpected argument 'stray'");
    check_one_line_error(run_wkv({"generate"}), 2, "--model is required");
    const std::string model = shared_file("models/stories260K.bin");
    const std::string tok = shared_file("models/tok512.bin");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-n", "ten"}), 2,
                         "--n-predict expects an integer, got 'ten'");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-n", "-1"}), 2,
                         "--n-predict = -1 is out of range");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--temp", "-1"}), 2,
                         "--temp = -1 is out of range");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--temp", "nan"}), 2, "--temp expects a number");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--top-p", "0"}), 2,
                         "--top-p = 0 is out of range");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--seed", "x1"}), 2,
                         "--seed expects a non-negative integer");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-n", "5", "-n", "6"}), 2, "given twice");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-c", "513"}), 2,
                         "--budget 513 is larger than the model's context of 512");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-n", "600"}), 2,
                         "exceed the full KV cache of 512 entries");
}

TEST_CASE("generate: greedy stories260K from BOS prints exactly the reference text on stdout") {
    const Json ref = shared_json("models/stories260K.reference.json");
    const RunResult r = run_wkv({"generate", "-m", shared_file("models/stories260K.bin"), "-t",
                                 shared_file("models/tok512.bin"), "-p", "", "--temp", "0", "-n", "256", "--cpu"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == ref.at("greedy_text_256_steps").get<std::string>());
    const std::regex stats(R"(stats: tokens=256 tok_per_s=[0-9.]+ kv_cache_bytes=([0-9]+))");
    std::smatch m;
    const std::string line = last_line(r.err);
    REQUIRE_MESSAGE(std::regex_match(line, m, stats), line);
    // 5 layers x 4 KV heads x 512 slots x (2 x 8 floats + acc + cnt + order + free + provenance).
    CHECK(m[1].str() == std::to_string(5 * 4 * 512 * (2 * 8 * 4 + 4 + 4 + 4 + 4 + 12)));
}

TEST_CASE("generate on Vulkan (the default) prints the same reference text; devices run") {
    const Json ref = shared_json("models/stories260K.reference.json");
    const RunResult r = run_wkv({"generate", "-m", shared_file("models/stories260K.bin"), "-t",
                                 shared_file("models/tok512.bin"), "--temp", "0", "-n", "256"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == ref.at("greedy_text_256_steps").get<std::string>());

    const RunResult devices = run_wkv({"devices"});
    CHECK(devices.exit_code == 0);
    CHECK(devices.out.rfind("0: ", 0) == 0);
    CHECK(devices.out.find("subgroup size") != std::string::npos);
}

TEST_CASE(
    "conformance as a user runs it (the gpu suite runs every case in-process): --json and --junit, every case the "
    "table shows, with its device; --filter; --all-devices") {
    const std::string json_path = (temp_dir() / "conformance.json").string();
    const std::string junit_path = (temp_dir() / "conformance.xml").string();
    // One run of the whole table (a filter chooses what is reported and judged), so one invocation serves every check.
    const RunResult r = run_wkv({"conformance", "--filter", "^(rmsnorm|swiglu|softcap|nll|argmax) ", "--json",
                                 json_path, "--junit", junit_path, "--all-devices"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    CHECK(r.out.find("PASS: 0 failed, 0 validation messages") != std::string::npos);
    const std::regex shown("^(rmsnorm|swiglu|softcap|nll|argmax) ");
    int rows = 0;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        if (std::regex_search(line, shown)) {
            CHECK(line.find(" pass ") != std::string::npos);
            rows++;
        }
    }
    CHECK(rows >= 8);
    const Json doc = parse_json(read_file(json_path));
    CHECK(doc.at("cases").size() == static_cast<size_t>(rows));
    for (const Json& c : doc.at("cases")) {
        CHECK(
            std::regex_search(c.at("shader").get<std::string>(), std::regex("^(rmsnorm|swiglu|softcap|nll|argmax)$")));
        CHECK(c.at("pass") == true);
        CHECK(c.at("worst").get<double>() <= c.at("tolerance").get<double>());
        const Json& d = c.at("device");
        CHECK(d.at("driver").get<std::string>().size() > 0);
        CHECK(std::regex_match(d.at("vulkan").get<std::string>(), std::regex(R"(1\.[0-9]+\.[0-9]+)")));
        CHECK(d.at("subgroup_size").get<int>() > 0);
    }
    CHECK(doc.at("validation_messages").empty());
    // The JUnit file is XML that a CI system reads: a suite per device, a case per row and one for validation.
    const std::string count =
        "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); "
        "print(r.tag, sum(int(s.get('tests')) for s in r), len(r.findall('./testsuite/testcase')),"
        " sum(int(s.get('failures')) for s in r))";
    FILE* pipe = ::popen(("python3 -c \"" + count + "\" '" + junit_path + "'").c_str(), "r");
    REQUIRE(pipe);
    char line[256] = {};
    REQUIRE(std::fgets(line, sizeof line, pipe));
    CHECK(::pclose(pipe) == 0);
    const int devices = static_cast<int>(wkv::list_devices().size());
    CHECK(std::string(line) ==
          "testsuites " + std::to_string(rows + devices) + " " + std::to_string(rows + devices) + " 0\n");

    check_one_line_error(run_wkv({"conformance", "--filter", "("}), 2, "--filter '(' is not a regular expression");
    check_one_line_error(run_wkv({"conformance", "--filter", "^no such shader$"}), 2, "matches no case");
    check_one_line_error(run_wkv({"conformance", "--json", temp_dir().string()}), 2, temp_dir().string());
    check_one_line_error(run_wkv({"conformance", "--all-devices", "--device", "0"}), 2, "exclude each other");
}

TEST_CASE("cache flags: bad values are one-line usage errors") {
    const std::string model = shared_file("models/stories260K.bin"), tok = shared_file("models/tok512.bin");
    const std::vector<std::string> base = {"generate", "-m", model, "-t", tok, "-n", "4"};
    auto with = [&](std::initializer_list<std::string> extra) {
        std::vector<std::string> a = base;
        a.insert(a.end(), extra);
        return run_wkv(a);
    };
    check_one_line_error(with({"--policy", "lru"}), 2, "--policy 'lru' is not one of");
    check_one_line_error(with({"--policy", "weightedkv"}), 2, "--policy weightedkv needs --budget");
    check_one_line_error(with({"--policy", "weightedkv", "--budget", "4"}), 2,
                         "--sinks 4 must be smaller than --budget 4");
    check_one_line_error(with({"--policy", "streaming", "--budget", "16", "--recent", "4"}), 2,
                         "--recent does not apply");
    check_one_line_error(with({"--policy", "h2o", "--budget", "16", "--cam-n", "4"}), 2, "apply to --policy cam only");
    check_one_line_error(with({"--policy", "full", "--budget", "8", "--sinks", "2"}), 2,
                         "do not apply to --policy full");
    check_one_line_error(with({"--positions", "absolute"}), 2, "--positions 'absolute' is not");
    check_one_line_error(with({"--kv-type", "bf16"}), 2, "--kv-type 'bf16' is not f32, f16, q8_0 or q4_0");
    check_one_line_error(with({"-ctk", "q5_1"}), 2, "--cache-type-k 'q5_1' is not f32, f16, q8_0 or q4_0");
    check_one_line_error(with({"--cache-type-v", ""}), 2, "--cache-type-v '' is not f32, f16, q8_0 or q4_0");
    check_one_line_error(with({"--kv-type", "f16,q8_0"}), 2, "take one value here");
    check_one_line_error(with({"--budget", "8", "-c", "8"}), 2, "give one");
    check_one_line_error(with({"--policy", "h2o,tova", "--budget", "8"}), 2, "take one value here");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-n", "600", "--policy", "weightedkv", "--budget",
                                  "16", "--positions", "original"}),
                         2, "original positions past the model's context");
    const RunResult ok = with({"--policy", "cam", "--budget", "16", "--cam-n", "4", "--cam-seed", "3", "--temp", "0"});
    CHECK(ok.exit_code == 0);
}

TEST_CASE("device errors are one line with exit code 3") {
    const std::string model = shared_file("models/stories260K.bin"), tok = shared_file("models/tok512.bin");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--device", "9"}), 3, "no Vulkan device 9");
    check_one_line_error(run_wkv({"conformance", "--device", "9"}), 3, "no Vulkan device 9");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--device", "x"}), 2,
                         "--device expects an integer");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "--device", "0", "--cpu"}), 2,
                         "exclude each other");
}

TEST_CASE("generate: the prompt is not echoed; sampling is reproducible with a seed; cache bytes do not depend on -n") {
    const std::string model = shared_file("models/stories260K.bin"), tok = shared_file("models/tok512.bin");
    const RunResult greedy =
        run_wkv({"generate", "-m", model, "-t", tok, "-p", "Once upon a time", "--temp", "0", "-n", "5"});
    CHECK(greedy.exit_code == 0);
    CHECK(greedy.out == ", there was a little");
    // -f: the same prompt from a file; -p and -f together is an error.
    const std::string prompt_file = (temp_dir() / "prompt.txt").string();
    write_file(prompt_file, {'O', 'n', 'c', 'e', ' ', 'u', 'p', 'o', 'n', ' ', 'a', ' ', 't', 'i', 'm', 'e'});
    const RunResult from_file =
        run_wkv({"generate", "-m", model, "-t", tok, "-f", prompt_file, "--temp", "0", "-n", "5"});
    CHECK(from_file.exit_code == 0);
    CHECK(from_file.out == greedy.out);
    // An empty file is an empty prompt, as -p "" is: the story from BOS.
    const std::string empty_file = (temp_dir() / "empty.txt").string();
    write_file(empty_file, {});
    const RunResult from_empty =
        run_wkv({"generate", "-m", model, "-t", tok, "-f", empty_file, "--temp", "0", "-n", "3"});
    CHECK(from_empty.exit_code == 0);
    CHECK(from_empty.out == run_wkv({"generate", "-m", model, "-t", tok, "-p", "", "--temp", "0", "-n", "3"}).out);
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-f", prompt_file, "-p", "x"}), 2,
                         "generate: -p and -f both give the text");
    check_one_line_error(run_wkv({"generate", "-m", model, "-t", tok, "-f", "/nonexistent/prompt"}), 2,
                         "/nonexistent/prompt");
    const RunResult a = run_wkv({"generate", "-m", model, "-t", tok, "--seed", "7", "-n", "40"});
    const RunResult b = run_wkv({"generate", "-m", model, "-t", tok, "--seed", "7", "-n", "40"});
    const RunResult c = run_wkv({"generate", "-m", model, "-t", tok, "--seed", "8", "-n", "40"});
    CHECK(a.exit_code == 0);
    CHECK(a.out == b.out);
    CHECK(a.out != c.out);
    const RunResult longer = run_wkv({"generate", "-m", model, "-t", tok, "--seed", "7", "-n", "200"});
    auto bytes = [](const RunResult& r) { return last_line(r.err).substr(last_line(r.err).find("kv_cache_bytes=")); };
    CHECK(bytes(a) == bytes(longer));

    // f16 keys and values, the default: a smaller cache than f32's, and on stories260K the same
    // first greedy words.
    auto cache_bytes = [](const RunResult& r) {
        return std::stoull(last_line(r.err).substr(last_line(r.err).find("kv_cache_bytes=") + 15));
    };
    const std::vector<std::string> weightedkv = {"generate",         "-m",       model, "-t", tok, "-p",
                                                 "Once upon a time", "--temp",   "0",   "-n", "5", "--policy",
                                                 "weightedkv",       "--budget", "64"};
    std::vector<std::string> f16 = weightedkv, f32 = weightedkv;
    f16.insert(f16.end(), {"--kv-type", "f16"});
    f32.insert(f32.end(), {"--kv-type", "f32"});
    const RunResult r32 = run_wkv(f32), r16 = run_wkv(f16), by_default = run_wkv(weightedkv);
    REQUIRE(r16.exit_code == 0);
    CHECK(r16.out == ", there was a little");
    CHECK(r32.out == r16.out);
    CHECK(cache_bytes(r16) < cache_bytes(r32));
    CHECK(cache_bytes(by_default) == cache_bytes(r16));
    // q8_0 keys and values (-ctk/-ctv, llama.cpp's names, or --kv-type for both), each flag
    // setting its half. On the eval model: a row of 48 is 96 bytes in f16 and 68 in q8_0 (two
    // blocks, the second padded), where stories260K's rows of 8 would grow to a whole block.
    const std::vector<std::string> eval = {"generate",
                                           "-m",
                                           shared_file("models/wkv-eval-8m.bin"),
                                           "-t",
                                           shared_file("models/wkv-eval-8m.tokenizer.model"),
                                           "-p",
                                           "The",
                                           "--temp",
                                           "0",
                                           "-n",
                                           "5",
                                           "--policy",
                                           "weightedkv",
                                           "--budget",
                                           "64"};
    auto eval_with = [&](std::initializer_list<std::string> extra) {
        std::vector<std::string> a = eval;
        a.insert(a.end(), extra);
        return run_wkv(a);
    };
    const RunResult e16 = eval_with({}), eq8 = eval_with({"--kv-type", "q8_0"}), ek = eval_with({"-ctk", "q8_0"}),
                    eflags = eval_with({"-ctk", "q8_0", "--cache-type-v", "q8_0"});
    REQUIRE(eq8.exit_code == 0);
    CHECK(cache_bytes(eq8) < cache_bytes(ek));
    CHECK(cache_bytes(ek) < cache_bytes(e16));
    CHECK(cache_bytes(e16) - cache_bytes(ek) == cache_bytes(ek) - cache_bytes(eq8));  // keys, then values
    CHECK(cache_bytes(eflags) == cache_bytes(eq8));
    CHECK(eflags.out == eq8.out);
}

TEST_CASE("generate: --ignore-eos goes on through the end of the story; --stats-every reports memory") {
    const std::vector<std::string> args =
        stories_args("generate", {"--temp", "0", "-n", "500", "--stats-every", "200"});
    const RunResult stops = run_wkv(args);  // the greedy story ends after 345 tokens
    std::vector<std::string> through = args;
    through.push_back("--ignore-eos");
    const RunResult all = run_wkv(through);
    REQUIRE(stops.exit_code == 0);
    REQUIRE(all.exit_code == 0);
    CHECK(last_line(stops.err).find("stats: tokens=345 ") == 0);
    CHECK(last_line(all.err).find("stats: tokens=500 ") == 0);
    CHECK(all.out.rfind(stops.out, 0) == 0);  // the same story, then more
    // One line per 200 tokens; the full cache holds one entry per token so far, 640 bytes each
    // (f16 keys and values: 5 layers x 4 KV heads x 8 dims x 2 x 2 bytes).
    const std::regex memory(R"(memory: tokens=(\d+) kv_bytes_in_use=(\d+) resident_bytes=(\d+) device_bytes=(\d+))");
    std::vector<std::smatch> lines;
    for (std::sregex_iterator it(all.err.begin(), all.err.end(), memory), end; it != end; ++it) lines.push_back(*it);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0][1] == "200");
    CHECK(lines[0][2] == "128000");
    CHECK(lines[1][2] == "256000");
    CHECK(lines[1][4] == lines[0][4]);  // device memory is allocated once
    CHECK(std::stoull(lines[0][3]) > 0);
}

TEST_CASE("generate: GGUF with its embedded vocabulary, and a GGUF with a tokenizer file") {
    const RunResult embedded =
        run_wkv({"generate", "-m", shared_file("models/wkv-eval-8m.q8_0.gguf"), "--temp", "0", "-n", "8"});
    const RunResult with_file = run_wkv({"generate", "-m", shared_file("models/wkv-eval-8m.q8_0.gguf"), "-t",
                                         shared_file("models/wkv-eval-8m.tokenizer.model"), "--temp", "0", "-n", "8"});
    CHECK(embedded.exit_code == 0);
    CHECK(embedded.out == with_file.out);
    CHECK(embedded.out == "\\op \\op \\op \\op");  // the reference's greedy text starts so (a weak model)
}

TEST_CASE("generate: bad files give one line naming the file and exit code 2") {
    const std::string tok = shared_file("models/tok512.bin");
    check_one_line_error(run_wkv({"generate", "-m", "/nonexistent.bin", "-t", tok}), 2,
                         "/nonexistent.bin: cannot open");
    const std::string truncated = (temp_dir() / "cli_truncated.bin").string();
    std::vector<uint8_t> bytes = read_bytes(shared_file("models/stories260K.bin"));
    bytes.resize(5000);
    write_file(truncated, bytes);
    check_one_line_error(run_wkv({"generate", "-m", truncated, "-t", tok}), 2, truncated + ": truncated");
    check_one_line_error(run_wkv({"generate", "-m", shared_file("models/stories260K.bin"), "-t",
                                  shared_file("models/llama2-tokenizer.model")}),
                         2, "has 32000 tokens but");
    check_one_line_error(run_wkv({"generate", "-m", shared_file("models/stories260K.bin")}), 2,
                         "has no embedded vocabulary; pass -t");
}

TEST_CASE("--json: checked before the run, written whole or not at all, through symlinks, never over special files") {
    namespace fs = std::filesystem;
    const std::string model = shared_file("models/stories260K.bin"), tok = shared_file("models/tok512.bin");
    const fs::path dir = temp_dir() / "json";
    fs::create_directories(dir);
    const std::string doc = (dir / "doc.txt").string();
    write_file(doc, {'O', 'n', 'c', 'e', ' ', 'u', 'p', 'o', 'n', ' ', 'a', ' ', 't', 'i', 'm', 'e'});
    auto ppl = [&](const std::string& json) {
        return std::vector<std::string>{"ppl", "-m",    model, "-t",    tok,      "-f",
                                        doc,   "--ctx", "16",  "--cpu", "--json", json};
    };
    auto leftovers = [&] {
        int n = 0;
        for (const auto& e : fs::directory_iterator(dir))
            n += e.path().filename().string().find(".tmp-") != std::string::npos;
        return n;
    };
    // Refused before any work: stdout stays empty (no table was printed).
    check_one_line_error(run_wkv(ppl(dir.string())), 2, "is a directory");
    check_one_line_error(run_wkv(ppl("/dev/full")), 2, "is not a regular file");
    CHECK(fs::is_character_file("/dev/full"));
    check_one_line_error(run_wkv(ppl((dir / "missing" / "out.json").string())), 2, "cannot create a file in");
    check_one_line_error(run_wkv({"bench", "-m", model, "-n", "2", "--json", dir.string()}), 2, "is a directory");

    // Through a symlink: the target gets the results, the link stays a link.
    const fs::path target = dir / "target.json", link = dir / "link.json";
    write_file(target.string(), {'o', 'l', 'd'});
    fs::create_symlink("target.json", link);
    REQUIRE(run_wkv(ppl(link.string())).exit_code == 0);
    CHECK(fs::is_symlink(link));
    CHECK(parse_json(read_file(target.string())).at("results").size() == 1);

    // A full disk (a file size limit): one line, exit 2, the old file untouched, no temporary file left.
    const RunResult full = run_wkv_with_file_limit(ppl(target.string()),
                                                   400);  // the table and the error fit, the JSON (~460 bytes) does not
    CHECK(full.exit_code == 2);
    CHECK_MESSAGE(full.err.find("target.json: cannot write") != std::string::npos, full.err);
    CHECK(last_line(full.err).rfind("wkv: ", 0) == 0);
    CHECK(parse_json(read_file(target.string())).at("results").size() == 1);
    CHECK(leftovers() == 0);
}

TEST_CASE("generate: --max-tokens-per-request refuses a prompt or -n over it, in one line; 0 lifts it") {
    const std::vector<std::string> base =
        stories_args("generate", {"--temp", "0", "--cpu", "--policy", "weightedkv", "--budget", "32"});
    auto with = [&](std::initializer_list<std::string> more) {
        std::vector<std::string> a = base;
        a.insert(a.end(), more);
        return run_wkv(a);
    };
    check_one_line_error(with({"-p", "Once upon a time there was a dog", "--max-tokens-per-request", "4"}), 2,
                         "generate: the prompt has 10 tokens, more than --max-tokens-per-request 4 (0 lifts the cap)");
    check_one_line_error(with({"-n", "40000"}), 2,
                         "generate: -n has 40000 tokens, more than --max-tokens-per-request 32768");
    const RunResult lifted =
        with({"-n", "40", "-p", "Once upon a time there was a dog", "--max-tokens-per-request", "0"});
    CHECK(lifted.exit_code == 0);
    CHECK(with({"-n", "40", "-p", "Once upon a time there was a dog"}).out == lifted.out);
}

TEST_CASE("generate --trace: CPU = GPU record for record; replaying its evictions gives every step's held positions") {
    namespace fs = std::filesystem;
    const fs::path dir = temp_dir() / "trace";
    fs::create_directories(dir);
    // f32 keys and values: in f16 one side's key can round an ulp away from the other's, and the
    // merge weights then differ in their fourth digit.
    auto traced = [&](const std::string& file, std::initializer_list<std::string> more) {
        std::vector<std::string> a =
            stories_args("generate", {"-p", "Once upon a time", "-n", "40", "--temp", "0", "--policy", "weightedkv",
                                      "--budget", "12", "--kv-type", "f32", "--trace", (dir / file).string()});
        a.insert(a.end(), more);
        return run_wkv(a);
    };
    REQUIRE(traced("cpu.jsonl", {"--cpu"}).exit_code == 0);
    REQUIRE(traced("gpu.jsonl", {}).exit_code == 0);
    auto records = [&](const std::string& file) {
        std::vector<Json> out;
        std::istringstream lines(read_file((dir / file).string()));
        for (std::string line; std::getline(lines, line);) out.push_back(parse_json(line));
        return out;
    };
    const std::vector<Json> cpu = records("cpu.jsonl"), gpu = records("gpu.jsonl");
    REQUIRE(cpu.size() == gpu.size());
    REQUIRE(cpu.size() == 5 * 44 + 1);  // 5 layers x (4 prompt tokens + BOS + 39 fed), then the end line
    CHECK(cpu.back().at("steps_recorded") == 44);
    CHECK(cpu.back().at("steps_dropped") == 0);
    uint64_t merges = 0;
    std::map<std::pair<int, int>, std::set<uint32_t>> replay;  // (layer, head) -> positions held
    for (size_t i = 0; i + 1 < cpu.size(); i++) {
        const Json &a = cpu[i], &b = gpu[i];
        CHECK(a.at("held") == b.at("held"));
        CHECK(a.at("evicted") == b.at("evicted"));
        const Json &into_a = a.at("merged_into"), &into_b = b.at("merged_into");
        REQUIRE(into_a.size() == into_b.size());
        for (size_t h = 0; h < into_a.size(); h++) {
            REQUIRE(into_a[h].size() == into_b[h].size());
            for (size_t m = 0; m < into_a[h].size(); m++) {
                CHECK(into_a[h][m][0] == into_b[h][m][0]);  // the receiver
                CHECK(into_a[h][m][1] == into_b[h][m][1]);  // tokens it gained
                CHECK(into_a[h][m][2].get<double>() == doctest::Approx(into_b[h][m][2].get<double>()).epsilon(1e-4));
            }
            merges += into_a[h].size();
        }
        const int layer = a.at("layer");
        for (size_t h = 0; h < a.at("held").size(); h++) {
            std::set<uint32_t>& held = replay[{layer, static_cast<int>(h)}];
            held.insert(a.at("pos").get<uint32_t>());
            for (const Json& p : a.at("evicted")[h]) CHECK(held.erase(p.get<uint32_t>()) == 1);
            CHECK(std::vector<uint32_t>(held.begin(), held.end()) == a.at("held")[h].get<std::vector<uint32_t>>());
        }
    }
    CHECK(merges == 5 * 4 * (44 - 12));  // weightedkv merges every eviction, one per head and step past the budget

    // A full disk: one line, exit 2, no trace and no temporary file left.
    const RunResult full =
        run_wkv_with_file_limit(stories_args("generate", {"-p", "Once", "-n", "20", "--cpu", "--policy", "weightedkv",
                                                          "--budget", "12", "--trace", (dir / "full.jsonl").string()}),
                                2000);
    CHECK(full.exit_code == 2);
    CHECK_MESSAGE(full.err.find("full.jsonl: cannot write") != std::string::npos, full.err);
    CHECK(!fs::exists(dir / "full.jsonl"));
    int leftovers = 0;
    for (const auto& e : fs::directory_iterator(dir))
        leftovers += e.path().filename().string().find(".tmp-") != std::string::npos;
    CHECK(leftovers == 0);
}

TEST_CASE("an eviction trace is bounded: past its bytes, steps are counted in the last line, not recorded") {
    const std::string path = (temp_dir() / "bounded.jsonl").string();
    CacheTrace trace(path, 2000);
    CacheView view{2, 1, {{}, {}}, {{}, {}}};
    for (uint32_t pos = 0; pos < 100; pos++) {
        for (std::vector<HeldEntry>& head : view.heads) head.push_back({pos});
        const uint32_t appended[] = {pos};
        trace.observe("a", {{"policy", "full"}}, view, appended);
    }
    trace.write();
    const std::string text = read_file(path);
    const std::string last = text.substr(text.rfind('\n', text.size() - 2) + 1);
    const Json end = parse_json(last);
    CHECK(end.at("end") == true);
    const uint64_t recorded = end.at("steps_recorded"), dropped = end.at("steps_dropped");
    CHECK(recorded > 0);
    CHECK(recorded + dropped == 100);
    CHECK(text.size() - last.size() <= 2000);
    CHECK(std::count(text.begin(), text.end(), '\n') == static_cast<long>(2 * recorded + 1));  // a line per layer
}

TEST_CASE("output files are created as the umask says, an existing one keeps its mode; an empty path names its flag") {
    namespace fs = std::filesystem;
    const fs::path dir = temp_dir() / "umask";
    fs::create_directories(dir);
    auto mode_of = [](const fs::path& p) { return fs::status(p).permissions() & fs::perms::all; };
    auto trace = [&](const fs::path& file) {
        return run_wkv(stories_args("generate", {"-p", "Once", "-n", "4", "--temp", "0", "--policy", "streaming",
                                                 "--budget", "8", "--trace", file.string()}));
    };
    const mode_t before = ::umask(077);
    const RunResult private_run = trace(dir / "private.jsonl");
    ::umask(022);
    const RunResult shared_run = trace(dir / "shared.jsonl");
    ::umask(before);
    REQUIRE_MESSAGE(private_run.exit_code == 0, private_run.err);
    REQUIRE_MESSAGE(shared_run.exit_code == 0, shared_run.err);
    CHECK(mode_of(dir / "private.jsonl") == (fs::perms::owner_read | fs::perms::owner_write));
    CHECK(mode_of(dir / "shared.jsonl") ==
          (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
    fs::permissions(dir / "shared.jsonl", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write);
    REQUIRE(trace(dir / "shared.jsonl").exit_code == 0);
    CHECK(mode_of(dir / "shared.jsonl") == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_write));

    std::vector<std::string> serve = stories_server({"--port", "0", "--port-file", ""});
    serve.insert(serve.begin(), "serve");
    check_one_line_error(run_wkv(serve), 2, "flag --port-file needs a non-empty value");
    check_one_line_error(
        run_wkv(stories_args("generate", {"-p", "Once", "--policy", "streaming", "--budget", "8", "--trace", ""})), 2,
        "flag --trace needs a non-empty value");
}

TEST_CASE("-hf USER/REPO[:QUANT] finds a model in the Hugging Face cache as the Hub's client lays it out") {
    namespace fs = std::filesystem;
    // $HF_HOME/hub/models--wkv--eval-8m-GGUF: refs/main names a snapshot whose files link into blobs/.
    const fs::path home = temp_dir() / "hf_home";
    fs::remove_all(home);
    const std::string revision = "0123456789abcdef0123456789abcdef01234567";
    auto repository = [&](const std::string& folder, const std::vector<std::pair<std::string, std::string>>& files) {
        const fs::path root = home / "hub" / folder;
        fs::create_directories(root / "refs");
        fs::create_directories(root / "blobs");
        fs::create_directories(root / "snapshots" / revision);
        write_file((root / "refs" / "main").string(), std::vector<uint8_t>(revision.begin(), revision.end()));
        int blob = 0;
        for (const auto& [name, target] : files) {
            const fs::path blob_path = root / "blobs" / ("blob" + std::to_string(blob++));
            fs::create_symlink(target, blob_path);
            fs::create_symlink(fs::path("../../blobs") / blob_path.filename(), root / "snapshots" / revision / name);
        }
    };
    const std::string q8 = shared_file("models/wkv-eval-8m.q8_0.gguf");
    const std::string q4_k_m = shared_file("models/quant/wkv-eval-8m.Q4_K_M.gguf");
    repository("models--wkv--eval-8m-GGUF",
               {{"eval-8m-Q8_0.gguf", q8}, {"eval-8m-Q4_K_M.gguf", q4_k_m}, {"mmproj-eval-8m-Q4_K_M.gguf", q8}});
    repository("models--wkv--split-GGUF",
               {{"split-Q8_0-00001-of-00002.gguf", q8}, {"split-Q8_0-00002-of-00002.gguf", q8}});
    // Offline: what is cached is found without the network (tests/pull_test.sh has the downloads).
    const std::vector<std::pair<std::string, std::string>> env = {
        {"HF_HOME", home.string()}, {"HF_HUB_CACHE", ""}, {"HF_HUB_OFFLINE", "1"}};
    auto with_hf = [&](std::vector<std::string> args) { return run_wkv_with_env(args, env); };

    // No tag: Q4_K_M (the projector beside it is no model); a tag in any case picks its file.
    const RunResult by_default = with_hf({"info", "-hf", "wkv/eval-8m-GGUF"});
    REQUIRE_MESSAGE(by_default.exit_code == 0, by_default.err);
    CHECK(by_default.out.find("q4_K") != std::string::npos);
    const RunResult generated = with_hf({"generate", "-hf", "wkv/eval-8m-GGUF:q8_0", "--temp", "0", "-n", "8"});
    REQUIRE_MESSAGE(generated.exit_code == 0, generated.err);
    CHECK(generated.out == run_wkv({"generate", "-m", q8, "--temp", "0", "-n", "8"}).out);
    const RunResult named = with_hf({"info", "-hf", "wkv/eval-8m-GGUF", "--hf-file", "eval-8m-Q8_0.gguf"});
    CHECK(named.out.find("snapshots/" + revision + "/eval-8m-Q8_0.gguf") != std::string::npos);
    CHECK(named.out.find("q4_K") == std::string::npos);
    // A split model is its first part, beside which the loader finds the others (these "parts" are
    // whole files, as a file without split.count is; tests/pull_test.sh loads a real split).
    const RunResult split = with_hf({"info", "-hf", "wkv/split-GGUF:Q8_0"});
    REQUIRE_MESSAGE(split.exit_code == 0, split.err);
    CHECK(split.out.find("snapshots/" + revision + "/split-Q8_0-00001-of-00002.gguf") != std::string::npos);
    // HF_HUB_CACHE is the hub folder itself, ahead of HF_HOME.
    CHECK(run_wkv_with_env(
              {"info", "-hf", "wkv/eval-8m-GGUF:Q8_0"},
              {{"HF_HOME", "/nonexistent"}, {"HF_HUB_CACHE", (home / "hub").string()}, {"HF_HUB_OFFLINE", "1"}})
              .exit_code == 0);

    // What cannot be resolved: one line, exit 2, naming what is wrong.
    for (const auto& [args, message] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"info", "-hf", "wkv/absent-GGUF"},
              "wkv/absent-GGUF is not in the Hugging Face cache (" + (home / "hub").string() +
                  "), and HF_HUB_OFFLINE is set: nothing is downloaded"},
             {{"info", "-hf", "no-slash"}, "-hf 'no-slash' is not USER/REPO[:QUANT]"},
             {{"info", "-hf", "wkv/../etc"}, "is not USER/REPO[:QUANT]"},
             {{"info", "-hf", "wkv/eval-8m-GGUF:Q2_K"}, "wkv/eval-8m-GGUF has no cached file with 'Q2_K' in its name"},
             {{"info", "-hf", "wkv/eval-8m-GGUF:8m"}, "more than one file matches"},
             {{"info", "-hf", "wkv/eval-8m-GGUF", "--hf-file", "other.gguf"}, "has no cached file 'other.gguf'"},
             {{"info", "-hf", "wkv/eval-8m-GGUF", "-m", q8}, "-m and -hf both name the model"},
             {{"info", "-m", q8, "--hf-file", "x.gguf"}, "--hf-file goes with -hf"},
         }) {
        CAPTURE(args[2]);
        check_one_line_error(with_hf(args), 2, message);
    }
    write_file((home / "hub" / "models--wkv--eval-8m-GGUF" / "refs" / "main").string(),
               std::vector<uint8_t>{'m', 'a', 'i', 'n'});
    check_one_line_error(with_hf({"info", "-hf", "wkv/eval-8m-GGUF"}), 2,
                         "models--wkv--eval-8m-GGUF/refs/main: not a revision (40 hexadecimal digits)");
}

}  // TEST_SUITE("cli")
