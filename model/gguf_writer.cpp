#include "gguf_writer.hpp"

#include <algorithm>

#include "error.hpp"
#include "gguf.hpp"

namespace wkv {

std::vector<uint8_t> GgufWriter::bytes() const {
    std::vector<uint8_t> out;
    append(out, uint32_t{0x46554747});
    append(out, version);
    append(out, uint64_t{tensors_.size()});
    append(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const Tensor& t : tensors_) {
        offsets.push_back(offset);
        append_string(out, t.name);
        append(out, uint32_t(t.dims.size()));
        for (uint64_t d : t.dims) append(out, d);
        append(out, t.type);
        append(out, t.forced_offset != UINT64_MAX ? t.forced_offset : offset);
        offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
    const size_t data_start = out.size();
    for (size_t i = 0; i < tensors_.size(); i++) {
        out.resize(data_start + offsets[i], 0);
        out.insert(out.end(), tensors_[i].data.begin(), tensors_[i].data.end());
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
    return out;
}

std::vector<std::vector<uint8_t>> GgufWriter::split(const MappedFile& file, uint32_t count) {
    const GgufFile g = parse_gguf(file);
    if (g.find("split.count")) fail(file.path(), "is a part of a split model already");
    const size_t n = g.tensors.size();
    if (count < 2 || count > n || count > UINT16_MAX)
        fail(file.path(), "cannot be split into " + std::to_string(count) + " parts");
    // A tensor's bytes run to the next tensor's offset (the last to the end of the file).
    std::vector<uint64_t> offsets{file.size() - g.data_offset};
    for (const GgufTensorInfo& t : g.tensors) offsets.push_back(t.offset);
    std::sort(offsets.begin(), offsets.end());
    std::vector<std::vector<uint8_t>> parts;
    for (uint32_t p = 0; p < count; p++) {
        GgufWriter w;
        w.version = g.version;
        w.alignment = static_cast<uint32_t>(g.alignment);
        if (p == 0) {
            w.raw_metadata({file.data() + g.metadata_begin, file.data() + g.metadata_end}, g.metadata.size());
        } else if (g.find("general.alignment")) {
            w.u32("general.alignment", w.alignment);
        }
        w.u16("split.no", static_cast<uint16_t>(p));
        w.u16("split.count", static_cast<uint16_t>(count));
        w.i32("split.tensors.count", static_cast<int32_t>(n));
        for (size_t i = p * n / count; i < (p + 1) * n / count; i++) {
            const GgufTensorInfo& t = g.tensors[i];
            const auto next = std::upper_bound(offsets.begin(), offsets.end(), t.offset);
            if (next == offsets.end()) fail(file.path(), "tensor " + quoted(t.name) + " lies past the end of the file");
            const uint64_t end = *next;
            const uint8_t* data = file.data() + g.data_offset + t.offset;
            w.tensor(t.name, t.dims, t.ggml_type, {data, data + (end - t.offset)});
        }
        parts.push_back(w.bytes());
    }
    return parts;
}

}  // namespace wkv
