// wkv pull USER/REPO[:QUANT]: a model from the Hugging Face Hub into its cache
// (cli/hub_pull.hpp), checked by the loader as any model file is; --list shows
// what the cache holds.
#include <cstdio>

#include "commands.hpp"
#include "error.hpp"
#include "hub_pull.hpp"
#include "runtime/memory_plan.hpp"

namespace wkv {

const CommandSpec kPullCommand{
    "pull",
    "Downloads a GGUF model from the Hugging Face Hub into its cache.",
    "Downloads USER/REPO[:QUANT] from the Hugging Face Hub into the Hub's own cache (HF_HUB_CACHE,\n"
    "else HF_HOME/hub, else ~/.cache/huggingface/hub), where -hf finds it and other Hub clients too.\n"
    "QUANT picks the file with it in its name (default Q4_K_M, else the smallest); a split model\n"
    "comes whole. An interrupted pull resumes where it stopped; every file is checked against the\n"
    "SHA-256 the Hub gives before it enters the cache. HF_ENDPOINT names another Hub, HF_TOKEN\n"
    "(or the token file of a Hub login) reads gated repositories, HF_HUB_OFFLINE=1 fetches nothing.",
    {
        {"--hf-repo", "-hf", "USER/REPO[:QUANT]", "the repository (also the first word: wkv pull USER/REPO)"},
        hf_file_flag(),
        {"--list", "", "", "list the GGUF files in the cache, with their sizes, and partial downloads"},
        {"--help", "-h", "", "show this help"},
    },
    "--hf-repo",
};

int run_pull(const Args& args) {
    if (args.has("--list")) {
        if (args.has("--hf-repo") || args.has("--hf-file")) throw Error(std::string("pull: --list takes no model"));
        for (const std::string& line : list_hub_cache()) std::printf("%s\n", one_line(line).c_str());
        return 0;
    }
    if (!args.has("--hf-repo"))
        throw Error(std::string("pull: name a repository: wkv pull USER/REPO[:QUANT] (or wkv pull --list)"));
    const InterruptWatch watch;
    try {
        const PullResult pulled = pull_model(args.required_text("--hf-repo"), args.text("--hf-file"));
        for (const std::string& path : pulled.paths) std::printf("%s\n", path.c_str());
        std::fprintf(stderr, "wkv: %s at %.12s: %s\n", pulled.repo.c_str(), pulled.commit.c_str(),
                     pulled.downloaded_bytes ? (format_bytes(pulled.downloaded_bytes) + " downloaded").c_str()
                                             : "already in the cache");
        // The loader's checks, as for any file; a split model from its first part, which finds the others.
        const Model model = load_model(pulled.paths[0]);
        std::fprintf(stderr, "wkv: %s\n", describe(model.config).c_str());
    } catch (const Interrupted& e) {
        std::fprintf(stderr, "wkv: %s\n", one_line(e.what()).c_str());
        return 130;
    }
    return 0;
}

}  // namespace wkv
