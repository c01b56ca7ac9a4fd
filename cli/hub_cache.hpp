// Models people already have: GGUF files that huggingface-cli, hf or another
// tool put in the Hugging Face Hub's cache, found by the name users write,
// USER/REPO[:QUANT] (-hf, as llama.cpp takes it). The cache is read as the Hub's
// own client lays it out:
//   $HF_HUB_CACHE (default $HF_HOME/hub, $HF_HOME default ~/.cache/huggingface)
//     models--USER--REPO/refs/main           the revision of the snapshot
//     models--USER--REPO/snapshots/REV/FILE  the files of that revision (links into blobs/)
// wkv pull (cli/hub_pull.hpp) downloads into this same layout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "error.hpp"

namespace wkv {

// The cache has no file a reference asks for (a pull may fetch it).
class NotCached : public Error {
public:
    explicit NotCached(const std::string& message) : Error(message) {}
};

struct HubReference {
    std::string repo;  // "USER/REPO"
    std::string tag;   // "Q4_K_M", or "" for the default
};

// "USER/REPO[:QUANT]", checked: each name of letters, digits, '.', '_' and '-' (not first), at most 96
// characters; a tag of letters, digits, '_' and '.'.
HubReference parse_hub_reference(const std::string& text);

// The Hub's cache folder, from HF_HUB_CACHE, HF_HOME or HOME.
std::filesystem::path hub_cache_dir();
// "models--USER--REPO", a repository's folder in the cache.
std::string hub_repo_folder(const std::string& repo);
// HF_HUB_OFFLINE: 1/true/yes/on, or 0/false/no/off/unset; anything else is an error.
bool hub_offline();

struct CachedFile {
    std::string name;  // relative to the snapshot: "qwen3-0.6b-q8_0.gguf"
    std::filesystem::path path;
    uint64_t bytes = 0;
};

// The GGUF files of the snapshot refs/main names, by name; empty if the repository is not cached.
std::vector<CachedFile> cached_gguf_files(const std::filesystem::path& cache, const std::string& repo);

// Which file a reference means among a repository's GGUF files: `file` by its exact name, else
// those whose name holds the tag (any case; projector files, mmproj, never), else Q4_K_M, else the
// smallest. A model split into parts (-00001-of-0000N) is all its parts, in order; more than one
// match, or a split model with a part missing, is refused, naming them. `where` says whose list
// it is in messages ("cached " or ""); finding nothing throws NotCached.
std::vector<const CachedFile*> choose_gguf(const std::vector<CachedFile>& files, const HubReference& ref,
                                           const std::string& file, const std::string& where);

// The path of the model -hf names, from the cache; NotCached if it is not there. For a split
// model, its first part (the loader finds the others beside it).
std::string cached_model_path(const std::string& reference, const std::string& file);

}  // namespace wkv
