#include "hub_cache.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>

#include "error.hpp"

namespace wkv {

namespace fs = std::filesystem;

namespace {

bool hub_name(const std::string& s) {
    static const std::regex name("[A-Za-z0-9][A-Za-z0-9._-]{0,95}");
    return std::regex_match(s, name) && s.find("..") == std::string::npos;
}

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// "name-00001-of-00003.gguf": the name without its part, the part and the count.
struct SplitPart {
    std::string model;
    int part = 0, count = 0;
};
std::optional<SplitPart> split_part(const std::string& name) {
    static const std::regex part(R"((.*)-(\d{5})-of-(\d{5})\.gguf)", std::regex::icase);
    std::smatch m;
    if (!std::regex_match(name, m, part)) return std::nullopt;
    return SplitPart{m[1], std::stoi(m[2]), std::stoi(m[3])};
}

std::string names_of(const std::vector<const CachedFile*>& files) {
    std::string out;
    for (const CachedFile* f : files) out += (out.empty() ? "" : ", ") + f->name;
    return out;
}

// The matches, if they are every part of one split model, in order; else empty.
std::vector<const CachedFile*> whole_split_model(std::vector<const CachedFile*> matches) {
    std::optional<SplitPart> first = split_part(matches[0]->name);
    if (!first || static_cast<size_t>(first->count) != matches.size()) return {};
    std::sort(matches.begin(), matches.end(),
              [](const CachedFile* a, const CachedFile* b) { return a->name < b->name; });
    for (size_t i = 0; i < matches.size(); i++) {
        const std::optional<SplitPart> p = split_part(matches[i]->name);
        if (!p || p->model != first->model || p->count != first->count || p->part != static_cast<int>(i + 1)) return {};
    }
    return matches;
}

}  // namespace

HubReference parse_hub_reference(const std::string& text) {
    HubReference ref;
    const size_t colon = text.find(':');
    ref.repo = text.substr(0, colon);
    if (colon != std::string::npos) ref.tag = text.substr(colon + 1);
    const size_t slash = ref.repo.find('/');
    static const std::regex tag("[A-Za-z0-9_.]{1,64}");
    if (slash == std::string::npos || !hub_name(ref.repo.substr(0, slash)) || !hub_name(ref.repo.substr(slash + 1)) ||
        (colon != std::string::npos && !std::regex_match(ref.tag, tag))) {
        throw Error("-hf " + wkv::quoted(text) + " is not USER/REPO[:QUANT] (for example Qwen/Qwen3-0.6B-GGUF:Q8_0)");
    }
    return ref;
}

std::string hub_repo_folder(const std::string& repo) {
    std::string folder = "models--" + repo;
    folder.replace(folder.find('/'), 1, "--");
    return folder;
}

bool hub_offline() {
    const std::string value = lower(env("HF_HUB_OFFLINE"));
    if (value.empty() || value == "0" || value == "false" || value == "no" || value == "off") return false;
    if (value == "1" || value == "true" || value == "yes" || value == "on") return true;
    throw Error("HF_HUB_OFFLINE=" + wkv::quoted(value) + " is neither 1/true/yes/on nor 0/false/no/off");
}

fs::path hub_cache_dir() {
    if (const std::string cache = env("HF_HUB_CACHE"); !cache.empty()) return cache;
    if (const std::string home = env("HF_HOME"); !home.empty()) return fs::path(home) / "hub";
    const std::string user_home = env("HOME");
    if (user_home.empty()) throw Error(std::string("neither HF_HUB_CACHE, HF_HOME nor HOME is set: no Hub cache"));
    return fs::path(user_home) / ".cache" / "huggingface" / "hub";
}

std::vector<CachedFile> cached_gguf_files(const fs::path& cache, const std::string& repo) {
    const fs::path root = cache / hub_repo_folder(repo);
    std::ifstream ref_file(root / "refs" / "main");
    if (!ref_file) return {};
    std::string revision(64, '\0');  // a revision is 40 characters: read no more of a hostile file
    ref_file.read(revision.data(), static_cast<std::streamsize>(revision.size()));
    revision.resize(static_cast<size_t>(ref_file.gcount()));
    revision.erase(std::min(revision.find('\n'), revision.size()));
    static const std::regex commit("[0-9a-f]{40}");
    if (!std::regex_match(revision, commit))
        throw Error((root / "refs" / "main").string() + ": not a revision (40 hexadecimal digits)");
    const fs::path snapshot = root / "snapshots" / revision;
    std::vector<CachedFile> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(snapshot, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (lower(p.extension().string()) != ".gguf" || !fs::is_regular_file(p, ec)) continue;  // follows links
        const uint64_t bytes = fs::file_size(p, ec);
        if (ec) continue;
        files.push_back({p.lexically_relative(snapshot).generic_string(), p, bytes});  // the name, not the blob
    }
    std::sort(files.begin(), files.end(), [](const CachedFile& a, const CachedFile& b) { return a.name < b.name; });
    return files;
}

std::vector<const CachedFile*> choose_gguf(const std::vector<CachedFile>& files, const HubReference& ref,
                                           const std::string& file, const std::string& where) {
    std::vector<const CachedFile*> models;  // projectors (mmproj) are not models
    for (const CachedFile& f : files)
        if (lower(f.name).find("mmproj") == std::string::npos) models.push_back(&f);
    if (!file.empty()) {
        for (const CachedFile& f : files)
            if (f.name == file) return {&f};
        throw NotCached(ref.repo + " has no " + where + "file '" + file + "' (" + where +
                        "GGUF files: " + names_of(models) + ")");
    }
    auto holding = [&](const std::string& tag) {
        std::vector<const CachedFile*> out;
        for (const CachedFile* f : models)
            if (lower(f->name).find(lower(tag)) != std::string::npos) out.push_back(f);
        return out;
    };
    std::vector<const CachedFile*> matches = holding(ref.tag.empty() ? "Q4_K_M" : ref.tag);
    if (matches.empty() && !ref.tag.empty())
        throw NotCached(ref.repo + " has no " + where + "file with '" + ref.tag + "' in its name (" + where +
                        "GGUF files: " + names_of(models) + ")");
    if (matches.empty()) {  // no tag and no Q4_K_M: the smallest model (all its parts)
        if (models.empty()) throw NotCached(ref.repo + " has no " + where + "GGUF file");
        const CachedFile* smallest = *std::min_element(
            models.begin(), models.end(), [](const CachedFile* a, const CachedFile* b) { return a->bytes < b->bytes; });
        const std::optional<SplitPart> part = split_part(smallest->name);
        matches = part ? holding(part->model + "-") : std::vector<const CachedFile*>{smallest};
    }
    if (matches.size() == 1 && !split_part(matches[0]->name)) return matches;
    if (std::vector<const CachedFile*> parts = whole_split_model(matches); !parts.empty()) return parts;
    const std::optional<SplitPart> first = split_part(matches[0]->name);
    const bool parts_of_first = std::all_of(matches.begin(), matches.end(), [&](const CachedFile* f) {
        const std::optional<SplitPart> p = split_part(f->name);
        return p && first && p->model == first->model;
    });
    if (parts_of_first && first->count > static_cast<int>(matches.size()))  // some parts are missing
        throw NotCached(ref.repo + ": the parts " + where + "are " + names_of(matches) + ", not all " +
                        std::to_string(first->count));
    throw Error(ref.repo + ": more than one file matches (" + names_of(matches) + "); name one with --hf-file");
}

std::string cached_model_path(const std::string& reference, const std::string& file) {
    const HubReference ref = parse_hub_reference(reference);
    const fs::path cache = hub_cache_dir();
    const std::vector<CachedFile> files = cached_gguf_files(cache, ref.repo);
    if (files.empty())
        throw NotCached(ref.repo + " is not in the Hugging Face cache (" + one_line(cache.string()) + ")");
    // A split model: its first part, beside which the loader finds the others.
    return choose_gguf(files, ref, file, "cached ")[0]->path.string();
}

}  // namespace wkv
