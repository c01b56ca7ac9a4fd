#include "gguf_split.hpp"

#include <cstdio>
#include <set>

#include "error.hpp"

namespace wkv {

namespace {

// gguf-split writes split.count as a u16.
constexpr uint32_t kMaxParts = 65535;

struct SplitKeys {
    uint32_t no = 0, count = 1;
};

SplitKeys split_keys(const GgufFile& g, const std::string& path) {
    const GgufMetadata meta(g, path);
    SplitKeys k;
    k.count = meta.u32("split.count").value_or(1);
    k.no = meta.u32("split.no").value_or(0);
    if (k.count == 0 || k.count > kMaxParts) {
        fail(path, "split.count " + std::to_string(k.count) + " is not in 1.." + std::to_string(kMaxParts));
    }
    if (k.no >= k.count) {
        fail(path, "split.no " + std::to_string(k.no) + " is not below split.count " + std::to_string(k.count));
    }
    return k;
}

}  // namespace

std::string split_part_path(const std::string& prefix, uint32_t part, uint32_t count) {
    char tail[32];
    std::snprintf(tail, sizeof tail, "-%05u-of-%05u.gguf", part, count);
    return prefix + tail;
}

std::vector<GgufPart> further_split_parts(const MappedFile& first_file, const GgufFile& first,
                                          std::vector<MappedFile>& mapped) {
    const std::string& path = first_file.path();
    const SplitKeys keys = split_keys(first, path);
    if (keys.no != 0) {
        fail(path, "is part " + std::to_string(keys.no + 1) + " of " + std::to_string(keys.count) +
                       " of a split model; give its first part (..." + split_part_path("", 1, keys.count) + ")");
    }
    if (keys.count == 1) return {};
    const std::string first_tail = split_part_path("", 1, keys.count);
    if (path.size() <= first_tail.size() ||
        path.compare(path.size() - first_tail.size(), first_tail.size(), first_tail)) {
        fail(path, "split.count is " + std::to_string(keys.count) + ", but the name does not end in " + first_tail +
                       ", so its other parts cannot be found");
    }
    const std::string prefix = path.substr(0, path.size() - first_tail.size());

    std::set<std::string> names;
    for (const GgufTensorInfo& t : first.tensors) names.insert(t.name);
    std::vector<GgufPart> parts;
    mapped.clear();
    mapped.reserve(keys.count - 1);  // the parts keep their addresses: GgufPart points at them
    for (uint32_t i = 1; i < keys.count; i++) {
        const std::string part_path = split_part_path(prefix, i + 1, keys.count);
        mapped.emplace_back(part_path);
        GgufPart part{&mapped.back(), parse_gguf(mapped.back())};
        const SplitKeys k = split_keys(part.gguf, part_path);
        if (k.no != i || k.count != keys.count) {
            fail(part_path, "is part " + std::to_string(k.no + 1) + " of " + std::to_string(k.count) + ", not part " +
                                std::to_string(i + 1) + " of " + std::to_string(keys.count) + " of " + path);
        }
        for (const GgufTensorInfo& t : part.gguf.tensors) {
            if (!names.insert(t.name).second)
                fail(part_path, "tensor " + quoted(t.name) + " is in an earlier part too");
        }
        parts.push_back(std::move(part));
    }
    const GgufMetadata meta(first, path);
    if (const std::optional<uint32_t> total = meta.u32("split.tensors.count"); total && *total != names.size()) {
        fail(path, "split.tensors.count is " + std::to_string(*total) + ", but the " + std::to_string(keys.count) +
                       " parts hold " + std::to_string(names.size()) + " tensors");
    }
    return parts;
}

}  // namespace wkv
