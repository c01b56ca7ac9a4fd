#include "support.hpp"

#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "random_model.hpp"

namespace wkv::test {

namespace fs = std::filesystem;

std::string shared_file(const std::string& relative) {
    const char* env = std::getenv("WKV_SHARED");
    const fs::path root = env && *env ? fs::path(env) : fs::path(WKV_SHARED_DIR);
    const fs::path p = root / relative;
    if (!fs::exists(p))
        FAIL("missing shared test data: " << p.string() << " (set WKV_SHARED or put ../shared beside the checkout)");
    return p.string();
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<uint8_t> read_bytes(const std::string& path) {
    const std::string s = read_file(path);
    return std::vector<uint8_t>(s.begin(), s.end());
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

Json shared_json(const std::string& relative) { return parse_json(read_file(shared_file(relative))); }

std::vector<int32_t> to_ids(const Json& array) {
    std::vector<int32_t> out;
    for (double x : array.get<std::vector<double>>()) out.push_back(static_cast<int32_t>(x));
    return out;
}

fs::path temp_dir() {
    static const fs::path dir = [] {
        fs::path d = fs::temp_directory_path() / ("wkv-tests-" + std::to_string(::getpid()));
        fs::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            fs::remove_all(fs::temp_directory_path() / ("wkv-tests-" + std::to_string(::getpid())), ec);
        });
        return d;
    }();
    return dir;
}

namespace {

struct Started {
    pid_t pid;
    fs::path out, err;
};

// Starts the wkv binary under test with these arguments, stdout and stderr to
// files, and its files limited to `max_file_bytes` (0: no limit).
Started start_wkv(const std::vector<std::string>& args, uint64_t max_file_bytes = 0,
                  const std::vector<std::pair<std::string, std::string>>& env = {},
                  const std::string& input_file = "") {
    static int counter = 0;
    Started s{-1, temp_dir() / ("run" + std::to_string(counter) + ".out"),
              temp_dir() / ("run" + std::to_string(counter) + ".err")};
    counter++;
    // Unwritten output would otherwise be written again by the child when it reopens stdout.
    std::fflush(stdout);
    std::fflush(stderr);
    s.pid = ::fork();
    REQUIRE(s.pid >= 0);
    if (s.pid == 0) {
        std::vector<char*> argv;
        std::string binary = WKV_BINARY;
        argv.push_back(binary.data());
        std::vector<std::string> copy = args;
        for (std::string& a : copy) argv.push_back(a.data());
        argv.push_back(nullptr);
        if (!std::freopen(s.out.c_str(), "w", stdout) || !std::freopen(s.err.c_str(), "w", stderr)) _exit(127);
        if (!input_file.empty() && !std::freopen(input_file.c_str(), "r", stdin)) _exit(127);
        for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
        if (max_file_bytes) {
            const rlimit limit{max_file_bytes, max_file_bytes};
            if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(127);
        }
        ::execv(binary.c_str(), argv.data());
        _exit(127);
    }
    return s;
}

RunResult finish(const Started& s) {
    int status = 0;
    ::waitpid(s.pid, &status, 0);
    RunResult r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(s.out.string());
    r.err = read_file(s.err.string());
    return r;
}

}  // namespace

RunResult run_wkv(const std::vector<std::string>& args) { return finish(start_wkv(args)); }

RunResult run_wkv_measuring_memory(const std::vector<std::string>& args) {
    const Started s = start_wkv(args);
    // The kernel's own high-water mark of the process's memory (VmHWM), read until it exits.
    // (A child's ru_maxrss would include the test process it was forked from.)
    uint64_t peak_kib = 0;
    const std::string proc = "/proc/" + std::to_string(s.pid);
    while (true) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(s.pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid != 0)
            break;  // exited
        // Until it has exec'd wkv, the child's figures are those of the test process it was forked from.
        std::string name;
        std::getline(std::ifstream(proc + "/comm"), name);
        std::ifstream in(proc + "/status");
        for (std::string line; name == "wkv" && std::getline(in, line);) {
            if (line.rfind("VmHWM:", 0) == 0) peak_kib = std::max<uint64_t>(peak_kib, std::stoull(line.substr(6)));
        }
        ::usleep(2000);
    }
    RunResult r = finish(s);
    r.peak_rss_bytes = peak_kib * 1024;
    return r;
}

RunResult run_wkv_with_env(const std::vector<std::string>& args,
                           const std::vector<std::pair<std::string, std::string>>& env) {
    return finish(start_wkv(args, 0, env));
}

RunResult run_wkv_with_input(const std::vector<std::string>& args, const std::string& input) {
    static int counter = 0;
    const std::string path = (temp_dir() / ("input" + std::to_string(counter++) + ".txt")).string();
    write_file(path, std::vector<uint8_t>(input.begin(), input.end()));
    return finish(start_wkv(args, 0, {}, path));
}

ServerProcess::ServerProcess(std::vector<std::string> args,
                             const std::vector<std::pair<std::string, std::string>>& env) {
    static int counter = 0;
    const std::string port_file = (temp_dir() / ("port" + std::to_string(counter++))).string();
    args.insert(args.begin(), "serve");
    args.insert(args.end(), {"--port", "0", "--port-file", port_file});
    const Started s = start_wkv(args, 0, env);
    pid_ = s.pid;
    out_ = s.out.string();
    err_ = s.err.string();
    // Wait for it to listen (loading a model on lavapipe takes a few seconds).
    for (int i = 0; i < 600 && port_ == 0; i++) {
        std::ifstream in(port_file);
        if (!(in >> port_)) port_ = 0;
        int status = 0;
        if (port_ == 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
            stopped_ = true;
            FAIL("wkv serve exited before listening: " << read_file(err_));
        }
        if (port_ == 0) ::usleep(100 * 1000);
    }
    REQUIRE_MESSAGE(port_ != 0, "wkv serve did not listen within 60 s: " << read_file(err_));
}

ServerProcess::~ServerProcess() {
    if (!stopped_) stop();
}

RunResult ServerProcess::stop(int signal) {
    if (!stopped_) {
        ::kill(pid_, signal);
        result_ = finish(Started{pid_, out_, err_});
        stopped_ = true;
    }
    return result_;
}

std::vector<std::string> stories_args(const std::string& command, std::initializer_list<std::string> more) {
    const std::string model = shared_file("models/stories260K.bin"), tokenizer = shared_file("models/tok512.bin");
    std::vector<std::string> a = {"-m", model, "-t", tokenizer};
    if (!command.empty()) a.insert(a.begin(), command);
    a.insert(a.end(), more);
    return a;
}

std::vector<std::string> stories_server(std::initializer_list<std::string> more) {
    std::vector<std::string> a =
        stories_args("", {"--chat-template", "llama2", "--policy", "weightedkv", "--budget", "64"});
    a.insert(a.end(), more);
    return a;
}

RunResult run_wkv_with_file_limit(const std::vector<std::string>& args, uint64_t max_file_bytes) {
    return finish(start_wkv(args, max_file_bytes));
}

std::vector<RunResult> run_wkv_parallel(const std::vector<std::vector<std::string>>& runs) {
    std::vector<Started> started;
    for (const auto& args : runs) started.push_back(start_wkv(args));
    std::vector<RunResult> results;
    for (const Started& s : started) results.push_back(finish(s));
    return results;
}

RunResult run_wkv_interrupted(const std::vector<std::string>& args, int interrupt_after_ms) {
    const Started s = start_wkv(args);
    ::usleep(static_cast<useconds_t>(interrupt_after_ms) * 1000);
    ::kill(s.pid, SIGINT);
    return finish(s);
}

Context& validated_context() {
    static Context ctx([] {
        ContextOptions o;
        o.validation = true;
        return o;
    }());
    return ctx;
}

void check_no_validation_messages() {
    const std::vector<std::string> messages = validated_context().validation_messages();
    for (const std::string& m : messages) MESSAGE("validation: " << m);
    CHECK(messages.empty());
}

Model random_model(const std::string& name, const ModelConfig& config, uint64_t seed) {
    RandomModelOptions o;
    o.config = config;
    o.seed = seed;
    const std::string path = (temp_dir() / name).string();
    write_file(path, random_llama_gguf(o));
    return load_model(path);
}

ModelConfig small_gqa_config(uint32_t vocab, uint32_t context) {
    ModelConfig c;
    c.dim = 32;
    c.hidden_dim = 48;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.vocab_size = vocab;
    c.context = context;
    return c;
}

ModelConfig one_layer_config(uint32_t n_heads, uint32_t n_kv_heads, uint32_t dim) {
    ModelConfig c;
    c.n_layers = 1;
    c.n_heads = n_heads;
    c.n_kv_heads = n_kv_heads;
    c.dim = dim;
    return c;
}

void decode_in_lockstep(Engine& cpu, Engine& gpu, const std::vector<CacheSettings>& settings, int32_t token,
                        uint32_t from, uint32_t end) {
    const size_t n = settings.size();
    std::vector<SequenceStep> on_cpu(n, {true, token, 0, StepOutput::token, 0}), on_gpu = on_cpu;
    for (uint32_t pos = from; pos < end; pos++) {
        for (size_t b = 0; b < n; b++) on_cpu[b].pos = on_gpu[b].pos = pos;
        cpu.step(on_cpu);
        gpu.step(on_gpu);
        for (uint32_t b = 0; b < n; b++) {
            on_cpu[b].token = cpu.token(b);
            on_gpu[b].token = gpu.token(b);
            REQUIRE_MESSAGE(on_cpu[b].token == on_gpu[b].token, kv_types_name(settings[b].kv_type)
                                                                    << " " << describe(settings[b].policy)
                                                                    << ": the texts part at position " << pos);
        }
    }
}

std::vector<PolicyKind> compressing_policies() {
    std::vector<PolicyKind> out;
    for (const PolicyInfo& p : policy_table()) {
        if (p.compress_head) out.push_back(p.kind);
    }
    return out;
}

std::vector<std::string> corpus_samples(size_t bytes_per_document) {
    std::vector<std::string> samples;
    for (const char* domain : {"pg19", "proofpile", "arxiv", "web"}) {
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(shared_file(std::string("corpora/") + domain)))
            files.push_back(e.path());
        std::sort(files.begin(), files.end());
        for (const fs::path& f : files) {
            std::string text = read_file(f.string());
            size_t cut = std::min(bytes_per_document, text.size());
            while (cut < text.size() && (static_cast<uint8_t>(text[cut]) & 0xC0) == 0x80) cut++;  // whole characters
            samples.push_back(text.substr(0, cut));
        }
    }
    return samples;
}

void check_one_line_error(const RunResult& r, int code, const std::string& contains) {
    CHECK(r.exit_code == code);
    CHECK(r.out.empty());
    CHECK_MESSAGE(r.err.rfind("wkv: ", 0) == 0, r.err);
    CHECK_MESSAGE(r.err.find('\n') == r.err.size() - 1, "not one line: " << r.err);
    CHECK_MESSAGE(r.err.find(contains) != std::string::npos, "expected '" << contains << "' in: " << r.err);
}

}  // namespace wkv::test
