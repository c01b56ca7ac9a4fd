// wkv: Llama-family inference with a fixed-size KV cache.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "build_info.hpp"
#include "commands.hpp"
#include "error.hpp"

namespace {

struct Command {
    const wkv::CommandSpec* spec;
    int (*run)(const wkv::Args&);
};

const Command kCommands[] = {
    {&wkv::kGenerateCommand, wkv::run_generate}, {&wkv::kChatCommand, wkv::run_chat},
    {&wkv::kServeCommand, wkv::run_serve},       {&wkv::kInfoCommand, wkv::run_info},
    {&wkv::kDevicesCommand, wkv::run_devices},   {&wkv::kPplCommand, wkv::run_ppl},
    {&wkv::kBenchCommand, wkv::run_bench},       {&wkv::kConformanceCommand, wkv::run_conformance_command},
    {&wkv::kTokenizeCommand, wkv::run_tokenize}, {&wkv::kPullCommand, wkv::run_pull},
    {&wkv::kNeedleCommand, wkv::run_needle},
};

std::string main_usage() {
    std::string out =
        "usage: wkv COMMAND [flags]\n\n"
        "Inference for the Llama family (Llama 2/3, Qwen2/3, SmolLM3, Granite) whose KV cache stays a fixed size\n"
        "however long the text grows.\n\n"
        "commands:\n";
    for (const Command& c : kCommands) {
        std::string name = "  " + c.spec->name;
        name.resize(14, ' ');
        out += name + c.spec->brief + "\n";
    }
    out += "\n'wkv COMMAND --help' lists a command's flags; 'wkv --version' prints the version.\n";
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    // Past a file size limit, writes fail with EFBIG (reported like a full disk)
    // instead of the signal ending the process with a half-written file.
    std::signal(SIGXFSZ, SIG_IGN);
    std::vector<std::string> words(argv + 1, argv + argc);
    if (words.empty()) {
        std::fputs(main_usage().c_str(), stderr);
        return static_cast<int>(wkv::ExitCode::bad_input);
    }
    if (words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
        std::fputs(main_usage().c_str(), stdout);
        return 0;
    }
    if (words[0] == "--version" || words[0] == "-V") {
        if (words.size() > 1) {
            std::fprintf(stderr, "wkv: %s takes no arguments; %s is one too many\n", words[0].c_str(),
                         wkv::quoted(words[1]).c_str());
            return static_cast<int>(wkv::ExitCode::bad_input);
        }
        std::printf("wkv %s (commit %s, %s build)\n", WKV_BUILD_VERSION, WKV_BUILD_COMMIT, WKV_BUILD_TYPE);
        return 0;
    }
    try {
        for (const Command& c : kCommands) {
            if (words[0] != c.spec->name) continue;
            const std::vector<std::string> rest(words.begin() + 1, words.end());
            const wkv::Args args(*c.spec, rest);
            if (args.has("--help")) {
                std::fputs(wkv::usage_text(*c.spec).c_str(), stdout);
                return 0;
            }
            return c.run(args);
        }
        std::fprintf(stderr, "wkv: unknown command %s (see 'wkv --help')\n", wkv::quoted(words[0]).c_str());
        return static_cast<int>(wkv::ExitCode::bad_input);
    } catch (const wkv::Error& e) {
        std::fflush(stdout);
        std::fprintf(stderr, "wkv: %s\n", wkv::one_line(e.what()).c_str());
        return static_cast<int>(e.code());
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "wkv: out of memory\n");
        return static_cast<int>(wkv::ExitCode::bad_input);
    }
}
