// Chat templates, exact token by exact token, and `wkv chat` driven by a script.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>
#include <sstream>

#include "chat_template.hpp"
#include "error.hpp"
#include "gguf_vocabulary.hpp"
#include "support.hpp"
#include "tokenizer.hpp"

using namespace wkv;
using namespace wkv::test;

namespace {

// Llama 2's vocabulary with the special tokens of the other families after it
// (ids 32000..32009), as the GGUFs of fine-tunes that use them add them.
Tokenizer llama2_with_specials() {
    Vocabulary v = Tokenizer::load(shared_file("models/llama2-tokenizer.bin")).vocabulary();
    for (const char* piece :
         {"<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
          "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"}) {
        v.pieces.push_back(piece);
        v.scores.push_back(0.0f);
        v.types.push_back(PieceType::control);
    }
    return Tokenizer::from_vocabulary(v);
}

std::vector<std::string> pieces(const Tokenizer& t, const std::vector<int32_t>& ids) {
    std::vector<std::string> out;
    for (int32_t id : ids) out.push_back(t.vocabulary().pieces[id]);
    return out;
}

}  // namespace

TEST_SUITE("chat") {

TEST_CASE("templates are recognised by their markers, and named") {
    CHECK(recognise_chat_template("{% for m in messages %}{{ '<|im_start|>' + m['role'] }}") == ChatFamily::chatml);
    CHECK(recognise_chat_template("{{ '<<SYS>>\\n' + system }}{{ bos_token + '[INST] ' + content + ' [/INST]' }}") ==
          ChatFamily::llama2);
    CHECK(recognise_chat_template("{{ bos_token }}{{ '[INST] ' + message['content'] + ' [/INST]' }}") ==
          ChatFamily::mistral);
    CHECK(recognise_chat_template("<|start_header_id|>{{ role }}<|end_header_id|>\n\n") == ChatFamily::llama3);
    CHECK(recognise_chat_template("{{ '<|user|>\\n' + message['content'] + eos_token }}") == ChatFamily::zephyr);
    // Phi-3's template names <|user|> too; its <|end|> tells it apart (the arch fixture's, and the real one's form).
    CHECK(recognise_chat_template("{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n'}}") ==
          ChatFamily::phi3);
    CHECK(recognise_chat_template("{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}") == ChatFamily::phi3);
    CHECK(!recognise_chat_template("{{ messages }}").has_value());
    CHECK(parse_chat_family("chatml") == ChatFamily::chatml);
    CHECK(!parse_chat_family("vicuna").has_value());
    CHECK(recognise_chat_template("{{'<start_of_turn>' + role + '\\n' + message['content'] | trim}}") ==
          ChatFamily::gemma);
    CHECK(chat_family_names() == "llama2, chatml, llama3, zephyr, mistral, phi3, gemma");
}

TEST_CASE("each family renders a system message and a user turn to these exact tokens") {
    const Tokenizer t = llama2_with_specials();
    const std::vector<ChatMessage> conversation = {{"system", "Be brief."}, {"user", "Hi!"}};
    // Llama 2: BOS, then one text with the system message folded into the first [INST]: exactly
    // what sentencepiece makes of Meta's prompt format.
    const std::vector<int32_t> llama2 = ChatTemplate(ChatFamily::llama2, t).render(conversation);
    CHECK(llama2 == std::vector<int32_t>{1,    518,   25580, 29962, 3532,  14816, 29903, 6778,  13,
                                         3629, 11473, 29889, 13,    29966, 829,   14816, 29903, 6778,
                                         13,   13,    18567, 29991, 518,   29914, 25580, 29962});
    CHECK(llama2 == Tokenizer::load(shared_file("models/llama2-tokenizer.model"))
                        .encode("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi! [/INST]", /*add_bos=*/true));
    // ChatML: <|im_start|> (32000) and <|im_end|> (32001) are single tokens; text after them has no
    // dummy prefix ("system", not " system"); newlines are the byte token <0x0A> (13).
    const std::vector<int32_t> chatml = ChatTemplate(ChatFamily::chatml, t).render(conversation);
    CHECK(chatml == std::vector<int32_t>{1,    32000, 5205,  13,    3629,  11473, 29889, 32001, 13,    32000,
                                         1792, 13,    18567, 29991, 32001, 13,    32000, 465,   22137, 13});
    CHECK(pieces(t, chatml)[2] == "system");
    CHECK(pieces(t, chatml)[17] + pieces(t, chatml)[18] == "assistant");
    // Llama 3 headers, <|begin_of_text|> (32002) first.
    CHECK(ChatTemplate(ChatFamily::llama3, t).render(conversation) ==
          std::vector<int32_t>{32002, 32003, 5205, 32004, 13,    13,    3629,  11473, 29889, 32005, 32003, 1792,
                               32004, 13,    13,   18567, 29991, 32005, 32003, 465,   22137, 32004, 13,    13});
    // Zephyr: its markers are text; each message ends with EOS (2), then a newline.
    CHECK(ChatTemplate(ChatFamily::zephyr, t).render(conversation) ==
          std::vector<int32_t>{1, 529, 29989, 5205,  29989, 29958, 13,    3629,  11473, 29889,
                               2, 13,  29966, 29989, 1792,  29989, 29958, 13,    18567, 29991,
                               2, 13,  29966, 29989, 465,   22137, 29989, 29958, 13});
}

TEST_CASE(
    "real vocabularies: Mistral's [INST] on Llama 2's, Llama 3's headers, Qwen's ChatML, Phi-3's, to their exact "
    "ids") {
    const std::vector<ChatMessage> conversation = {{"system", "Be brief."}, {"user", "Hi!"}};
    auto vocab = [](const char* name) {
        return Tokenizer::from_vocabulary(
            load_gguf_vocabulary(shared_file("models/vocab/ggml-vocab-" + std::string(name) + ".gguf")));
    };
    auto join = [](std::initializer_list<std::vector<int32_t>> parts) {
        std::vector<int32_t> out;
        for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
        return out;
    };
    // Mistral: one BOS, the system message opens the first [INST], no <<SYS>>.
    const Tokenizer spm = vocab("llama-spm");
    CHECK(ChatTemplate(ChatFamily::mistral, spm).render(conversation) ==
          Tokenizer::load(shared_file("models/llama2-tokenizer.model"))
              .encode("[INST] Be brief.\n\nHi! [/INST]", /*add_bos=*/true));
    // Llama 3: <|begin_of_text|> 128000, <|start_header_id|> 128006, <|end_header_id|> 128007,
    // <|eot_id|> 128009; "system" 9125, "user" 882, "assistant" 78191, "\n\n" 271.
    const Tokenizer llama3 = vocab("llama-bpe");
    CHECK(ChatTemplate(ChatFamily::llama3, llama3).render(conversation) ==
          join({{128000, 128006, 9125, 128007},
                llama3.encode("\n\nBe brief.", false),
                {128009, 128006, 882, 128007},
                llama3.encode("\n\nHi!", false),
                {128009, 128006, 78191, 128007, 271}}));
    CHECK(llama3.encode("\n\nBe brief.", false).front() == 271);
    // Qwen's ChatML: <|im_start|> 151644, <|im_end|> 151645; "system" 8948, "user" 872, "assistant" 77091, "\n" 198.
    const Tokenizer qwen = vocab("qwen2");
    CHECK(ChatTemplate(ChatFamily::chatml, qwen).render(conversation) == join({{151644, 8948, 198},
                                                                               qwen.encode("Be brief.", false),
                                                                               {151645, 198, 151644, 872, 198},
                                                                               qwen.encode("Hi!", false),
                                                                               {151645, 198, 151644, 77091, 198}}));
    // Phi-3: its markers take the newline after them and the text after one has sentencepiece's
    // space, as llama.cpp renders a Phi-3 vocabulary (node-llama-cpp 3.22.1's ids, BOS first).
    const Tokenizer phi3 = vocab("phi-3");
    CHECK(ChatTemplate(ChatFamily::phi3, phi3).render({{"system", "Be brief."}, {"user", "Once upon a time"}}) ==
          std::vector<int32_t>{1, 32006, 1522, 11473, 29889, 32007, 32010, 9038, 2501, 263, 931, 32007, 32001});
    CHECK(ChatTemplate(ChatFamily::phi3, phi3)
              .render({{"user", "Hi"}, {"assistant", "Hello there."}, {"user", "And then?"}}) ==
          std::vector<int32_t>{1, 32010, 6324, 32007, 32001, 15043, 727, 29889, 32007, 32010, 1126, 769, 29973, 32007,
                               32001});
    CHECK(ChatTemplate(ChatFamily::phi3, phi3).end_of_turn() == 32007);
    // Gemma: <start_of_turn> 4096, <end_of_turn> 4097 on the gemma3 arch file's vocabulary (no
    // space prefix); the system message opens the first user turn, the assistant is "model".
    // llama.cpp's ids for the template's text (node-llama-cpp 3.22.1), BOS first.
    const Tokenizer gemma =
        Tokenizer::from_vocabulary(*load_model(shared_file("models/arch/gemma3-random.gguf")).vocabulary);
    CHECK(ChatTemplate(ChatFamily::gemma, gemma).render(conversation) ==
          std::vector<int32_t>{1,  4096, 398,  267,  13,   3905, 3847, 276,  384, 456, 3868,
                               13, 13,   3900, 3851, 3921, 4097, 13,   4096, 885, 375, 13});
    CHECK(ChatTemplate(ChatFamily::gemma, gemma)
              .render({{"user", "Once upon a time"}, {"assistant", " There was a dog. "}, {"user", "And then?"}}) ==
          std::vector<int32_t>{1,   4096, 398, 267,  13,  3911, 942,  960, 261,  643,  4097, 13, 4096,
                               885, 375,  13,  786,  264, 358,  261,  501, 3863, 3868, 4097, 13, 4096,
                               398, 267,  13,  2647, 650, 3930, 4097, 13,  4096, 885,  375,  13});
    CHECK(ChatTemplate(ChatFamily::gemma, gemma).end_of_turn() == 4097);
    // A reply ends at <|im_end|>, and at <|endoftext|> too (the vocabulary's ends of generation).
    const ChatTemplate chatml(ChatFamily::chatml, qwen);
    CHECK(chatml.end_of_turn() == 151645);
    CHECK(std::count(qwen.end_of_generation().begin(), qwen.end_of_generation().end(), 151643) == 1);
}

TEST_CASE("a conversation continued turn by turn is the conversation rendered whole") {
    const Tokenizer t = llama2_with_specials();
    for (ChatFamily f : {ChatFamily::llama2, ChatFamily::chatml, ChatFamily::llama3, ChatFamily::zephyr,
                         ChatFamily::mistral, ChatFamily::phi3}) {
        const ChatTemplate chat(f, t);
        const std::vector<ChatMessage> all = {{"system", "S"}, {"user", "A"}, {"assistant", "B"}, {"user", "C"}};
        // Turn 1, the reply "B" ending with the end of turn, then turn 2.
        std::vector<int32_t> turns = chat.user_turn("A", "S", true);
        const bool spaced = f == ChatFamily::llama2 || f == ChatFamily::mistral || f == ChatFamily::phi3;
        const std::vector<int32_t> reply = t.encode(spaced ? " B" : "B", false, false);  // as the model writes it
        turns.insert(turns.end(), reply.begin(), reply.end());
        turns.push_back(chat.end_of_turn());
        const std::vector<int32_t> close = chat.close_reply(true), next = chat.user_turn("C", "S", false);
        turns.insert(turns.end(), close.begin(), close.end());
        turns.insert(turns.end(), next.begin(), next.end());
        CHECK_MESSAGE(turns == chat.render(all), std::string(chat_family_name(f)));
        // And a client's history continued from the first two messages and the reply.
        std::vector<int32_t> continued = chat.render({all[0], all[1]});
        continued.insert(continued.end(), reply.begin(), reply.end());
        const std::vector<int32_t> rest = chat.close_reply(false), more = chat.render({all[3]}, /*opens=*/false);
        continued.insert(continued.end(), rest.begin(), rest.end());
        continued.insert(continued.end(), more.begin(), more.end());
        CHECK_MESSAGE(continued == chat.render(all), std::string(chat_family_name(f)));
    }
    // Gemma's turns on a vocabulary that has its markers.
    const Tokenizer gemma =
        Tokenizer::from_vocabulary(*load_model(shared_file("models/arch/gemma3-random.gguf")).vocabulary);
    const ChatTemplate chat(ChatFamily::gemma, gemma);
    const std::vector<ChatMessage> all = {{"system", "S"}, {"user", "A"}, {"assistant", "B"}, {"user", "C"}};
    std::vector<int32_t> turns = chat.user_turn("A", "S", true);
    const std::vector<int32_t> reply = gemma.encode("B", false, false);
    turns.insert(turns.end(), reply.begin(), reply.end());
    turns.push_back(chat.end_of_turn());
    for (const auto& part : {chat.close_reply(true), chat.user_turn("C", "S", false)})
        turns.insert(turns.end(), part.begin(), part.end());
    CHECK(turns == chat.render(all));
    // A family whose end of turn the vocabulary lacks is refused when the template is made.
    const Tokenizer plain = Tokenizer::load(shared_file("models/tok512.bin"));
    CHECK_THROWS_WITH_AS(ChatTemplate(ChatFamily::chatml, plain), doctest::Contains("needs a token <|im_end|>"), Error);
}

TEST_CASE("wkv chat from a script: replies stream, the cache carries over and stays one size, /reset starts again") {
    const std::vector<std::string> args = stories_args(
        "chat", {"--chat-template", "llama2", "--temp", "0", "-n", "24", "--policy", "weightedkv", "--budget", "32"});
    const RunResult r = run_wkv_with_input(
        args, "Once upon a time\n/stats\nThe dog ran\nA big tree\n/reset\nOnce upon a time\n/exit\nnot read\n");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::vector<std::string> replies;
    for (size_t at = 0, nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
        replies.push_back(r.out.substr(at, nl - at));
    REQUIRE(replies.size() == 4);
    CHECK(!replies[0].empty());
    CHECK(replies[3] == replies[0]);  // greedy, and /reset forgot the conversation
    CHECK(replies[1] != replies[0]);
    // Past the budget the entries stay at 32, and the KV bytes in use with them:
    // stories260K keeps 5 layers x 4 KV heads x 8 dims x (key + value) x 2 bytes (f16, the default)
    // = 640 bytes an entry.
    const std::regex status(R"(\[tokens=(\d+) tok_per_s=[\d.]+ cache_entries=(\d+) kv_bytes_in_use=(\d+)\])");
    std::vector<std::smatch> lines;
    for (std::sregex_iterator it(r.err.begin(), r.err.end(), status), end; it != end; ++it) lines.push_back(*it);
    REQUIRE(lines.size() == 4);
    for (const std::smatch& m : lines) {
        CHECK(std::stoi(m[2]) <= 32);
        CHECK(std::stoll(m[3]) == std::stoll(m[2]) * 640);
    }
    CHECK(std::stoi(lines[2][2]) == 32);  // the third turn runs past 32 tokens of conversation
    CHECK(lines[2][3] == lines[1][3]);
    CHECK(r.err.find("stats: conversation_tokens=") != std::string::npos);
    CHECK(r.err.find("(a new conversation)") != std::string::npos);
    // End of input ends it too; a file without a template needs one named.
    CHECK(run_wkv_with_input({"chat", "-m", shared_file("models/stories260K.bin"), "-t",
                              shared_file("models/tok512.bin"), "--chat-template", "llama2", "-n", "4"},
                             "Hello\n")
              .exit_code == 0);
    const RunResult none = run_wkv_with_input(
        {"chat", "-m", shared_file("models/stories260K.bin"), "-t", shared_file("models/tok512.bin")}, "");
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("has no chat template") != std::string::npos);
}

TEST_CASE("wkv chat: a line starting with '/' is a command; unknown ones are not sent; '//' sends a '/'") {
    const std::vector<std::string> args = stories_args("chat", {"--chat-template", "llama2", "--temp", "0", "-n", "8"});
    const RunResult r = run_wkv_with_input(args, "/\n/unknown\n/stats extra\n/help\n//text\n");
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    for (const char* line : {"unknown command /;", "unknown command /unknown;", "unknown command /stats extra;"}) {
        CHECK_MESSAGE(r.err.find(line) != std::string::npos, r.err);
    }
    CHECK(r.err.find("/reset  start a new conversation") != std::string::npos);  // /help
    // Only "//text" reached the model, as "/text": one reply, one status line.
    const std::regex status(R"(\[tokens=\d+)");
    CHECK(std::distance(std::sregex_iterator(r.err.begin(), r.err.end(), status), std::sregex_iterator()) == 1);
    const RunResult alone = run_wkv_with_input(args, "/text\n");
    CHECK(alone.out.empty());  // an unknown command
    const RunResult sent = run_wkv_with_input(args, "//text\n");
    CHECK(sent.out == r.out);
    // A message over --max-tokens-per-request is not sent; the conversation goes on.
    std::vector<std::string> capped = args;
    capped.insert(capped.end(), {"--max-tokens-per-request", "24"});
    const RunResult over =
        run_wkv_with_input(capped, "Once upon a time there was a big dog and a little cat and a bird in a tree\nHi\n");
    CHECK(over.exit_code == 0);
    CHECK_MESSAGE(over.err.find("more than --max-tokens-per-request 24; it was not sent") != std::string::npos,
                  over.err);
    CHECK(std::distance(std::sregex_iterator(over.err.begin(), over.err.end(), status), std::sregex_iterator()) == 1);
}

TEST_CASE("chat /cache: a line per layer; streaming holds the sinks and the window, the full cache everything") {
    auto cache_lines = [](std::initializer_list<std::string> cache) {
        std::vector<std::string> args =
            stories_args("chat", {"--chat-template", "llama2", "--cpu", "-n", "40", "--temp", "0"});
        args.insert(args.end(), cache);
        const RunResult r = run_wkv_with_input(args, "Hello there\n/cache\n");
        REQUIRE_MESSAGE(r.exit_code == 0, r.err);
        std::vector<std::string> lines;
        std::istringstream in(r.err);
        for (std::string line; std::getline(in, line);) {
            if (line.rfind("cache: ", 0) == 0 || line.rfind("layer ", 0) == 0 || line.rfind("evictions ", 0) == 0)
                lines.push_back(line);
        }
        return lines;
    };
    // A reply of up to 40 tokens after the prompt: under 64 positions, one per column.
    const std::vector<std::string> streaming = cache_lines({"--policy", "streaming", "--budget", "24"});
    REQUIRE(streaming.size() == 7);
    const int tokens = std::stoi(streaming[0].substr(7));
    REQUIRE(tokens > 24);
    CHECK(streaming[0] == "cache: " + std::to_string(tokens) + " tokens, 1 per column, a line per layer");
    for (int l = 0; l < 5; l++) {
        CHECK(streaming[1 + l] ==
              "layer  " + std::to_string(l) + " |@@@@" + std::string(tokens - 24, ' ') + std::string(20, '@') + "|");
    }
    CHECK(streaming[6] == "evictions " + std::to_string(20 * (tokens - 24)) + ", merged 0");
    const std::vector<std::string> full = cache_lines({});
    REQUIRE(full.size() == 7);
    CHECK(full[1] == "layer  0 |" + std::string(std::stoi(full[0].substr(7)), '@') + "|");
    CHECK(full[6] == "evictions 0, merged 0");
}

}  // TEST_SUITE("chat")
