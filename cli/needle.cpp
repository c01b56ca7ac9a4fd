// wkv needle: does the cache keep the one fact a question needs? A key is
// hidden at a depth of a long filler text, the question follows, and the reply
// is decoded greedily; a trial passes when the reply holds the key. Every cache
// setting asked for runs the same prompts as lanes of one batch, so the table,
// per setting, is context length x depth -> keys found.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

#include "commands.hpp"
#include "error.hpp"
#include "heatmap_svg.hpp"
#include "mapped_file.hpp"
#include "needle_text.hpp"
#include "output.hpp"
#include "progress.hpp"

namespace wkv {

const CommandSpec kNeedleCommand{
    "needle",
    "Measures whether each cache policy keeps a key hidden at every depth of a long text.",
    "Needle in a haystack: a key (random digits) hidden in a sentence at each --depths of a filler text\n"
    "of each --lengths tokens, then the question; the reply is decoded greedily, and a trial passes when it\n"
    "holds the key. Every policy and budget runs the same prompts side by side. Prints a table per setting\n"
    "(depth down, length across: keys found / trials). The model's chat template wraps the prompt when it\n"
    "has one (--raw: never). Ctrl-C prints what completed.",
    join_flags(
        {
            model_flag(),
            hf_repo_flag(),
            hf_file_flag(),
            tokenizer_flag(),
            {"--file", "-f", "PATH", "filler text, used once from its start (default: a few sentences, repeated)"},
            {"--lengths", "", "L1,L2,...",
             "prompt lengths in tokens (default: a quarter, a half and all of the model's context, at most 4096, less "
             "the answer)"},
            {"--depths", "", "D1,D2,...",
             "where the needle is, 0 (the start) to 1 (the end) (default 0,0.25,0.5,0.75,1)"},
            {"--trials", "", "N", "keys per length and depth (default 3)"},
            {"--seed", "", "S", "the keys' seed (default 1)"},
            {"--key-digits", "", "N", "digits of a key (default 5)"},
            {"--needle", "", "TEXT",
             std::string("the needle, {key} where the key goes (default \"") + needle_text::kNeedle + "\")"},
            {"--question", "", "TEXT",
             std::string("the question after the text (default \"") + needle_text::kQuestion + "\")"},
            {"--answer-prefix", "", "TEXT",
             std::string("the start of the reply, given (default \"") + needle_text::kAnswerPrefix + "\")"},
            {"--answer-tokens", "", "N", "tokens decoded for a reply (default 16)"},
            {"--raw", "", "", "no chat template: the question and the answer prefix follow the text"},
            {"--chat-template", "", "NAME",
             "the template, where the file has none or another (" + chat_family_names() + ")"},
            {"--json", "", "PATH", "also write every trial, and a result per setting, length and depth, as JSON"},
            {"--svg", "", "PATH", "also draw the heat maps, one per setting, side by side"},
            device_flag(),
            cpu_flag(),
            {"--help", "-h", "", "show this help"},
        },
        cache_flags(/*lists=*/true)),
};

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_needle_interrupt(int) { g_interrupted = true; }

struct Haystack {
    std::vector<std::string> units;  // filler pieces, each ending in a space
    bool repeats = false;            // the default filler: cycled without end
    std::string source;              // the file, for messages
};

Haystack make_haystack(const Args& args) {
    Haystack h;
    if (!args.has("--file")) {
        for (const char* s : needle_text::kFiller) h.units.push_back(std::string(s) + " ");
        h.repeats = true;
        h.source = "the default filler";
        return h;
    }
    h.source = args.required_text("--file");
    const MappedFile file(h.source);
    const std::string_view text(reinterpret_cast<const char*>(file.data()), file.size());
    std::string word;  // words with the whitespace after them, so the needle sits between two
    for (char c : text) {
        const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
        if (space && !word.empty() && word.back() != ' ') {
            h.units.push_back(word + " ");
            word.clear();
        } else if (!space) {
            word += c;
        }
    }
    if (!word.empty()) h.units.push_back(word + " ");
    if (h.units.empty()) fail(h.source, "has no words to fill a haystack with");
    return h;
}

struct PromptParts {
    std::string needle_template, question, answer_prefix;
    std::optional<ChatFamily> chat;
};

// The prompt with `count` filler units, the needle after round(depth * count) of them.
std::vector<int32_t> render_prompt(const Tokenizer& tokenizer, const PromptParts& parts, const Haystack& hay,
                                   size_t count, double depth, const std::string& key) {
    const auto before = static_cast<size_t>(std::lround(depth * static_cast<double>(count)));
    std::string needle = parts.needle_template;
    needle.replace(needle.find("{key}"), 5, key);
    std::string body = std::string(needle_text::kIntro) + " ";
    for (size_t i = 0; i < count; i++) {
        if (i == before) body += needle + " ";
        body += hay.units[i % hay.units.size()];
    }
    if (before >= count) body += needle + " ";
    body.pop_back();  // the last unit's space
    if (!parts.chat) return tokenizer.encode_prompt(body + "\n" + parts.question + " " + parts.answer_prefix);
    const ChatTemplate chat(*parts.chat, tokenizer);
    std::vector<int32_t> tokens = chat.render({{"user", body + "\n" + parts.question}});
    const std::vector<int32_t> prefix = tokenizer.encode(parts.answer_prefix, false, /*dummy_prefix=*/false);
    tokens.insert(tokens.end(), prefix.begin(), prefix.end());
    return tokens;
}

// The longest prompt of at most `length` tokens: as many filler units as fit (a binary search;
// a prompt grows with its units).
std::vector<int32_t> fit_prompt(const Tokenizer& tokenizer, const PromptParts& parts, const Haystack& hay,
                                uint32_t length, double depth, const std::string& key) {
    auto render = [&](size_t n) { return render_prompt(tokenizer, parts, hay, n, depth, key); };
    std::vector<int32_t> best = render(0);
    if (best.size() > length) {
        throw Error("--lengths " + std::to_string(length) + " is shorter than the prompt without filler (" +
                    std::to_string(best.size()) + " tokens)");
    }
    // lo units fit; hi is the most that might (every unit is a token at least).
    size_t lo = 0, hi = std::min<size_t>(length, hay.units.size());
    if (hay.repeats) {
        size_t fewest = length;
        for (const std::string& unit : hay.units)
            fewest = std::min(fewest, tokenizer.encode(unit, false, false).size());
        hi = length / std::max<size_t>(fewest, 1) + 1;
    } else if (hay.units.size() < length) {
        std::vector<int32_t> all = render(hi);
        if (all.size() < length) {
            fail(hay.source, "its " + std::to_string(hay.units.size()) + " words make a prompt of " +
                                 std::to_string(all.size()) + " tokens, too short for --lengths " +
                                 std::to_string(length));
        }
    }
    while (lo < hi) {
        const size_t mid = lo + (hi - lo + 1) / 2;
        std::vector<int32_t> tokens = render(mid);
        if (tokens.size() <= length) {
            lo = mid;
            best = std::move(tokens);
        } else {
            hi = mid - 1;
        }
    }
    return best;
}

std::vector<double> parse_depths(const Args& args) {
    std::vector<double> depths;
    for (const std::string& text : args.list("--depths", "0,0.25,0.5,0.75,1")) {
        size_t used = 0;
        double d = NAN;
        try {
            d = std::stod(text, &used);
        } catch (const std::exception&) {
        }
        if (used != text.size() || !(d >= 0.0 && d <= 1.0))
            throw Error("--depths: " + wkv::quoted(text) + " is not a depth from 0 to 1");
        depths.push_back(d);
    }
    return depths;
}

// Random digits, no leading zero, and no two adjacent digits twice ("12312" repeats "12"): a
// reader that finds each digit by the two before it, as the constructed retrieval model does
// (model/retrieval_model.hpp), is then never ambiguous.
std::string make_key(uint64_t seed, size_t length_index, size_t depth_index, uint32_t trial, uint32_t digits) {
    std::seed_seq seq{seed, uint64_t{length_index}, uint64_t{depth_index}, uint64_t{trial}};
    std::mt19937_64 rng(seq);
    std::string key;
    for (int tries = 0; key.size() < digits; tries++) {
        if (tries == 1000) key.clear(), tries = 0;  // every pair after the last digit used: start again
        const char d = static_cast<char>('0' + (key.empty() ? 1 + rng() % 9 : rng() % 10));
        if (key.empty() || key.find(std::string{key.back(), d}) == std::string::npos) key += d;
    }
    return key;
}

// The index of the prompt token that holds the first character of `text`'s first occurrence in
// the prompt's text (the prompt's size if there is none).
uint32_t token_holding(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt, const std::string& text) {
    std::string decoded;
    std::vector<size_t> ends;  // the text's length after each token
    int32_t prev = -1;
    for (int32_t id : prompt) {
        decoded += tokenizer.decode_piece(std::exchange(prev, id), id);
        ends.push_back(decoded.size());
    }
    const size_t at = decoded.find(text);
    if (at == std::string::npos) return static_cast<uint32_t>(prompt.size());
    return static_cast<uint32_t>(std::upper_bound(ends.begin(), ends.end(), at) - ends.begin());
}

struct Trial {
    size_t length_index, depth_index;
    uint32_t trial, tokens = 0, key_at = 0;  // the prompt's tokens; the token the key starts in
    std::string key;
    std::vector<std::string> answers;  // per setting
    bool done = false;
};

// Each setting's reply to one prompt, greedy, every setting a lane of the engine.
std::vector<std::string> answer(Engine& engine, const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                                uint32_t answer_tokens, const std::vector<int32_t>& stops) {
    const uint32_t lanes = engine.size();
    std::vector<int32_t> next(lanes);
    std::vector<std::vector<int32_t>> replies(lanes);
    std::vector<bool> ended(lanes, false);
    for (uint32_t s = 0; s < lanes; s++) {
        engine.reset(s);
        engine.prefill(s, prompt, 0, /*logits=*/true);
        next[s] = argmax(engine.logits(s));
        if (next[s] < 0) throw broken_logits_error(static_cast<uint32_t>(prompt.size() - 1));
    }
    for (uint32_t i = 0; i < answer_tokens; i++) {
        std::vector<SequenceStep> steps(lanes);
        bool any = false;
        for (uint32_t s = 0; s < lanes; s++) {
            if (!ended[s] && std::find(stops.begin(), stops.end(), next[s]) != stops.end()) ended[s] = true;
            steps[s].active = !ended[s] && i + 1 < answer_tokens;
            if (ended[s]) continue;
            replies[s].push_back(next[s]);
            steps[s].token = next[s];
            steps[s].pos = static_cast<uint32_t>(prompt.size()) + i;
            steps[s].output = StepOutput::token;
            any = any || steps[s].active;
        }
        if (!any) break;
        engine.step(steps);
        for (uint32_t s = 0; s < lanes; s++) {
            if (!steps[s].active) continue;
            next[s] = engine.token(s);
            if (next[s] < 0) throw broken_logits_error(steps[s].pos);
        }
    }
    std::vector<std::string> out;
    for (const std::vector<int32_t>& r : replies) {
        std::string text;
        int32_t prev = -1;
        for (int32_t id : r) text += tokenizer.decode_piece(std::exchange(prev, id), id);
        out.push_back(text);
    }
    return out;
}

std::string setting_label(const CacheSettings& s) {
    return std::string(policy_name(s.policy.kind)) + ", budget " + std::to_string(s.policy.budget) + ", " +
           kv_types_name(s.kv_type);
}

}  // namespace

int run_needle(const Args& args) {
    std::optional<OutputFile> json_out, svg_out;  // checked now, written at the end
    if (args.has("--json")) json_out.emplace(args.required_text("--json"), "--json");
    if (args.has("--svg")) svg_out.emplace(args.required_text("--svg"), "--svg");
    if (args.has("--raw") && args.has("--chat-template"))
        throw Error(std::string("--raw and --chat-template contradict each other"));
    PromptParts parts{args.text("--needle", needle_text::kNeedle), args.text("--question", needle_text::kQuestion),
                      args.text("--answer-prefix", needle_text::kAnswerPrefix), std::nullopt};
    if (parts.needle_template.find("{key}") == std::string::npos)
        throw Error("--needle " + wkv::quoted(parts.needle_template) + " has no {key} where the key goes");
    const auto trials = static_cast<uint32_t>(args.integer("--trials", 3, 1, 10000));
    const auto digits = static_cast<uint32_t>(args.integer("--key-digits", 5, 1, 32));
    const auto answer_tokens = static_cast<uint32_t>(args.integer("--answer-tokens", 16, 1, 1024));
    const uint64_t seed = args.unsigned_integer("--seed", 1);
    const std::vector<double> depths = parse_depths(args);
    const Haystack hay = make_haystack(args);

    const Model model = load_model(model_path(args));
    const ModelConfig& c = model.config;
    const Tokenizer tokenizer = tokenizer_for(model, args.text("--tokenizer"));
    if (!args.has("--raw") && (args.has("--chat-template") || !model.chat_template.empty()))
        parts.chat = chat_family(args, model);
    std::vector<uint32_t> lengths;
    for (int64_t l : args.integer_list("--lengths", 1, 1 << 20)) lengths.push_back(static_cast<uint32_t>(l));
    if (lengths.empty()) {
        const uint32_t most = std::min<uint32_t>(c.context, 4096) - std::min(answer_tokens, c.context / 2);
        lengths = {most / 4, most / 2, most};
    }
    const uint32_t longest = *std::max_element(lengths.begin(), lengths.end());
    const std::vector<std::string> policies = args.list("--policy", "full");
    if (std::find(policies.begin(), policies.end(), "full") != policies.end() && longest + answer_tokens > c.context) {
        throw Error("--lengths " + std::to_string(longest) + " and " + std::to_string(answer_tokens) +
                    " answer tokens pass the model's context of " + std::to_string(c.context) +
                    ", which the full cache cannot (a compressing --policy can, with cache positions)");
    }
    const std::vector<CacheSettings> grid = cache_settings_list(args, c, longest + answer_tokens);
    for (const CacheSettings& s : grid) {
        if (s.positions == PositionMode::original && longest + answer_tokens > c.context) {
            throw Error("--lengths " + std::to_string(longest) + " and " + std::to_string(answer_tokens) +
                        " answer tokens pass the model's context of " + std::to_string(c.context) +
                        " with original positions (cache positions run longer)");
        }
    }

    std::vector<Trial> plan;
    for (size_t l = 0; l < lengths.size(); l++)
        for (size_t d = 0; d < depths.size(); d++)
            for (uint32_t t = 0; t < trials; t++) plan.push_back({l, d, t, 0, 0, make_key(seed, l, d, t, digits), {}});
    // Every prompt is built before the engine starts, so that a filler too short fails at once.
    std::vector<std::vector<int32_t>> prompts;
    for (Trial& t : plan) {
        prompts.push_back(fit_prompt(tokenizer, parts, hay, lengths[t.length_index], depths[t.depth_index], t.key));
        t.tokens = static_cast<uint32_t>(prompts.back().size());
        t.key_at = token_holding(tokenizer, prompts.back(), t.key);
    }

    const OpenEngine opened = make_engine(args, model, grid);
    Engine& engine = *opened.engine;
    const std::string device = engine.device_name();
    std::vector<int32_t> stops = tokenizer.end_of_generation();
    if (parts.chat) {
        const std::vector<int32_t> more = ChatTemplate(*parts.chat, tokenizer).stop_tokens();
        stops.insert(stops.end(), more.begin(), more.end());
    }

    g_interrupted = false;
    std::signal(SIGINT, on_needle_interrupt);
    const auto start = std::chrono::steady_clock::now();
    {
        Progress progress("needle", "trials", plan.size(), /*lines_when_piped=*/true);
        for (size_t i = 0; i < plan.size() && !g_interrupted; i++) {
            plan[i].answers = answer(engine, tokenizer, prompts[i], answer_tokens, stops);
            plan[i].done = true;
            progress.advance(1);
        }
    }
    std::signal(SIGINT, SIG_DFL);
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // passed[s][d][l], run[d][l]
    std::vector<std::vector<std::vector<uint32_t>>> passed(
        grid.size(), std::vector<std::vector<uint32_t>>(depths.size(), std::vector<uint32_t>(lengths.size())));
    std::vector<std::vector<uint32_t>> run(depths.size(), std::vector<uint32_t>(lengths.size()));
    for (const Trial& t : plan) {
        if (!t.done) continue;
        run[t.depth_index][t.length_index]++;
        for (size_t s = 0; s < grid.size(); s++)
            passed[s][t.depth_index][t.length_index] += t.answers[s].find(t.key) != std::string::npos;
    }

    std::printf("model %s, %s, %s, %u trial%s per cell, %s\n", model.path.c_str(),
                parts.chat ? (std::string(chat_family_name(*parts.chat)) + " template").c_str() : "raw prompt",
                hay.source.c_str(), trials, trials == 1 ? "" : "s", device.c_str());
    for (size_t s = 0; s < grid.size(); s++) {
        uint32_t all = 0, tried = 0;
        for (size_t d = 0; d < depths.size(); d++)
            for (size_t l = 0; l < lengths.size(); l++) all += passed[s][d][l], tried += run[d][l];
        std::printf("\n%s: %u/%u keys found\n%-8s", setting_label(grid[s]).c_str(), all, tried, "depth");
        for (uint32_t l : lengths) std::printf(" %8u", l);
        std::printf("\n");
        for (size_t d = 0; d < depths.size(); d++) {
            std::printf("%-8g", depths[d]);
            for (size_t l = 0; l < lengths.size(); l++) {
                const std::string cell =
                    run[d][l] ? std::to_string(passed[s][d][l]) + "/" + std::to_string(run[d][l]) : std::string("...");
                std::printf(" %8s", cell.c_str());
            }
            std::printf("\n");
        }
    }
    if (g_interrupted) std::printf("(interrupted: '...' marks what did not run)\n");
    std::printf("wall time %.1f s\n", wall_s);

    if (json_out) {
        nlohmann::json trial_list = nlohmann::json::array(), results = nlohmann::json::array();
        for (const Trial& t : plan) {
            if (!t.done) continue;
            for (size_t s = 0; s < grid.size(); s++) {
                trial_list.push_back({{"policy", policy_name(grid[s].policy.kind)},
                                      {"budget", grid[s].policy.budget},
                                      {"kv_type", kv_types_name(grid[s].kv_type)},
                                      {"length", lengths[t.length_index]},
                                      {"tokens", t.tokens},
                                      {"key_at", t.key_at},
                                      {"depth", depths[t.depth_index]},
                                      {"trial", t.trial},
                                      {"key", t.key},
                                      {"answer", t.answers[s]},
                                      {"passed", t.answers[s].find(t.key) != std::string::npos}});
            }
        }
        for (size_t s = 0; s < grid.size(); s++)
            for (size_t l = 0; l < lengths.size(); l++)
                for (size_t d = 0; d < depths.size(); d++) {
                    if (!run[d][l]) continue;
                    results.push_back({{"policy", policy_name(grid[s].policy.kind)},
                                       {"budget", grid[s].policy.budget},
                                       {"sinks", grid[s].policy.sinks},
                                       {"recent", grid[s].policy.recent},
                                       {"kv_type", kv_types_name(grid[s].kv_type)},
                                       {"length", lengths[l]},
                                       {"depth", depths[d]},
                                       {"trials", run[d][l]},
                                       {"passed", passed[s][d][l]},
                                       {"accuracy", static_cast<double>(passed[s][d][l]) / run[d][l]}});
                }
        json_out->write({{"model", args.has("--hf-repo") ? args.text("--hf-repo") : args.text("--model")},
                         {"device", device},
                         {"template", parts.chat ? chat_family_name(*parts.chat) : "raw"},
                         {"filler", hay.source},
                         {"needle", parts.needle_template},
                         {"question", parts.question},
                         {"answer_prefix", parts.answer_prefix},
                         {"seed", seed},
                         {"wall_s", wall_s},
                         {"interrupted", g_interrupted.load()},
                         {"trials", trial_list},
                         {"results", results}});
    }
    if (svg_out) {
        std::vector<Heatmap> maps;
        for (size_t s = 0; s < grid.size(); s++) {
            Heatmap m{setting_label(grid[s]), policy_name(grid[s].policy.kind), lengths, depths, {}};
            for (size_t d = 0; d < depths.size(); d++) {
                m.accuracy.emplace_back();
                for (size_t l = 0; l < lengths.size(); l++)
                    m.accuracy.back().push_back(run[d][l] ? static_cast<double>(passed[s][d][l]) / run[d][l] : NAN);
            }
            maps.push_back(std::move(m));
        }
        svg_out->write(heatmaps_svg(maps, "wkv needle: " + model.path + ", keys found per context length and depth"));
    }
    return g_interrupted ? 130 : 0;
}

}  // namespace wkv
