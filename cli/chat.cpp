// wkv chat: a conversation in the terminal, or from a script on stdin. The
// cache carries over from turn to turn, so each turn feeds only its own
// tokens, and a compressing policy keeps the cache one size however long the
// conversation runs. Ctrl-C stops a reply, not the program.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "chat_template.hpp"
#include "commands.hpp"
#include "error.hpp"
#include "generation.hpp"
#include "progress.hpp"

namespace wkv {

const CommandSpec kChatCommand{
    "chat",
    "Holds an interactive conversation in the terminal, in fixed memory however long it runs.",
    "An interactive conversation: type a message, read the reply as it streams. Commands: /reset\n"
    "(a new conversation), /stats, /cache, /exit (or end of input), /help; //text sends \"/text\". Ctrl-C stops the "
    "current "
    "reply.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            tokenizer_flag(),
            {"--system", "", "TEXT", "a system message that opens the conversation"},
            {"--chat-template", "", "NAME",
             "llama2, chatml, llama3, zephyr, mistral or phi3 (default: recognised from the GGUF's "
             "tokenizer.chat_template)"},
            {"--n-predict", "-n", "N", "most tokens in one reply (default 512)"},
            request_cap_flag(),
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        join_flags(sampling_flags(), cache_flags())),
};

namespace {

constexpr const char* kChatCommandsHelp =
    "/reset  start a new conversation (the cache is emptied)\n"
    "/stats  tokens, cache entries and KV bytes of the conversation\n"
    "/cache  which positions each layer's cache still holds, and its evictions and merges\n"
    "/exit   end (as end of input does)\n"
    "/help   this list\n"
    "//text  sends \"/text\" as a message\n";

std::atomic<bool> g_stop_reply{false};
extern "C" void on_stop_reply(int) { g_stop_reply = true; }

}  // namespace

ChatFamily chat_family(const Args& args, const Model& model) {
    if (args.has("--chat-template")) {
        const std::string name = args.text("--chat-template");
        const auto family = parse_chat_family(name);
        if (!family) throw Error("--chat-template " + quoted(name) + " is not one of " + chat_family_names());
        return *family;
    }
    return model_chat_family(model, "--chat-template");
}

int run_chat(const Args& args) {
    const Model model = load_model(model_path(args));
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    const ChatTemplate chat(chat_family(args, model), tokenizer);
    const CacheSettings cache = cache_settings(args, model.config);
    const int64_t max_reply = args.integer("--n-predict", 512, 1, 1 << 20);
    const int64_t cap = request_token_cap(args);
    check_request_tokens(cap, max_reply, "chat: -n");
    const std::string system = args.text("--system");
    const SamplerSettings sampling = sampler_settings(args);
    OpenEngine handle = make_engine(args, model, {cache});
    print_random_seed(args, sampling);
    Engine& engine = *handle.engine;
    Generator generator(engine, tokenizer, sampling, chat.stop_tokens());
    const bool interactive = ::isatty(STDIN_FILENO);
    // The keys and values held now: grows with the conversation until the cache is full, then stays.
    auto kv_in_use = [&] { return engine.kv_bytes_held(0); };

    bool first = true, ended = true;
    GenerationStats last;
    std::string line;
    while (true) {
        if (interactive) std::fputs("> ", stderr);
        if (!std::getline(std::cin, line)) break;  // end of input
        if (line == "/exit") break;
        if (line == "/help") {
            std::fputs(kChatCommandsHelp, stderr);
            continue;
        }
        if (line == "/reset") {
            generator.reset();
            first = ended = true;
            std::fprintf(stderr, "(a new conversation)\n");
            continue;
        }
        if (line == "/stats") {
            std::fprintf(stderr,
                         "stats: conversation_tokens=%u cache_entries=%u kv_bytes_in_use=%llu kv_cache_bytes=%llu "
                         "last_reply_tokens=%lld "
                         "tok_per_s=%.2f\n",
                         generator.length(), engine.entries(0), static_cast<unsigned long long>(kv_in_use()),
                         static_cast<unsigned long long>(engine.kv_cache_bytes()), static_cast<long long>(last.tokens),
                         last.tokens_per_second());
            continue;
        }
        if (line == "/cache") {
            std::fputs(cache_bars(engine.cache_view(0), generator.fed()).c_str(), stderr);
            continue;
        }
        // A line that starts with '/' is a command; "//" sends a message that starts with '/'.
        if (line.rfind("//", 0) == 0) {
            line.erase(0, 1);
        } else if (!line.empty() && line[0] == '/') {
            std::fprintf(stderr, "unknown command %s; /help lists them\n", line.c_str());
            continue;
        }
        if (line.empty()) continue;

        std::vector<int32_t> turn = first ? std::vector<int32_t>{} : chat.close_reply(ended);
        const std::vector<int32_t> user = chat.user_turn(line, system, first);
        if (cap && static_cast<int64_t>(user.size()) > cap) {
            std::fprintf(stderr,
                         "wkv: this message has %zu tokens, more than --max-tokens-per-request %lld; it was not sent "
                         "(0 lifts the cap)\n",
                         user.size(), static_cast<long long>(cap));
            continue;
        }
        turn.insert(turn.end(), user.begin(), user.end());
        if (!cache.policy.compresses() && generator.length() + turn.size() + max_reply > cache.policy.budget) {
            std::fprintf(stderr,
                         "wkv: the conversation would outgrow the full cache of %u entries; /reset it, or chat with a "
                         "compressing --policy, whose cache never fills\n",
                         cache.policy.budget);
            continue;
        }
        // From here Ctrl-C ends this turn (its prompt still goes in whole, so the
        // cache stays a valid conversation); at the "> " prompt it ends wkv.
        g_stop_reply = false;
        std::signal(SIGINT, on_stop_reply);
        {
            Progress progress("message", "tokens", turn.size(), /*lines_when_piped=*/true);
            generator.append(turn, [&](size_t fed) { progress.set(fed); });
        }
        first = false;
        const StopReason reason =
            g_stop_reply ? StopReason::stopped : generator.generate(max_reply, [](std::string_view piece) {
                std::fwrite(piece.data(), 1, piece.size(), stdout);
                std::fflush(stdout);
                return !g_stop_reply;
            });
        std::signal(SIGINT, SIG_DFL);
        ended = reason == StopReason::end_of_text;
        last = generator.stats();
        std::fputs("\n", stdout);
        std::fflush(stdout);
        std::fprintf(stderr, "[tokens=%lld tok_per_s=%.2f cache_entries=%u kv_bytes_in_use=%llu%s]\n",
                     static_cast<long long>(last.tokens), last.tokens_per_second(), engine.entries(0),
                     static_cast<unsigned long long>(kv_in_use()), reason == StopReason::stopped ? " stopped" : "");
    }
    return 0;
}

}  // namespace wkv
