#include "gguf_writer.hpp"

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

}  // namespace wkv
