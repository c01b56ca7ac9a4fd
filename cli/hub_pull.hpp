// wkv pull: a GGUF model from the Hugging Face Hub into the Hub's own cache
// (cli/hub_cache.hpp), laid out as its client lays it out, so that either finds
// what the other fetched:
//   blobs/SHA256               the file, named by the SHA-256 the Hub gives for it
//   blobs/SHA256.incomplete    a download under way, or stopped (the next pull resumes it)
//   snapshots/COMMIT/NAME      a relative link to the blob
//   refs/main                  COMMIT
//   ../.locks/models--USER--REPO/SHA256.lock   held while one process downloads it
// A file enters blobs/ only once its SHA-256 matches; HF_ENDPOINT, HF_TOKEN (or
// $HF_HOME/token) and HF_HUB_OFFLINE are honoured as by the Hub's client.
#pragma once

#include <string>
#include <vector>

#include "hub_download.hpp"

namespace wkv {

struct PullResult {
    std::string repo, commit;
    std::vector<std::string> paths;  // the snapshot path of each file (a split model's parts in order)
    uint64_t downloaded_bytes = 0;   // 0 when everything was cached already
};

// Resolves `reference` (USER/REPO[:QUANT], or exactly `file`) against the repository's current
// file list and downloads what the cache lacks. Throws Error with one line for every failure,
// Interrupted on Ctrl-C (the partial file stays).
PullResult pull_model(const std::string& reference, const std::string& file, const RetryPolicy& retry = {});

// The model -hf names: from the cache when it is there (no network), else pulled, unless
// HF_HUB_OFFLINE is set. For a split model, its first part (the loader finds the others beside it).
std::string hub_model_path(const std::string& reference, const std::string& file);

// Every GGUF file in the cache, a line each, with the partial downloads; for wkv pull --list.
std::vector<std::string> list_hub_cache();

}  // namespace wkv
