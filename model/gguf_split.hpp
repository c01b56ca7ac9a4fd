// Models that llama.cpp's gguf-split divided into files named
// PREFIX-00001-of-0000N.gguf ... PREFIX-0000N-of-0000N.gguf, as the Hugging
// Face Hub holds large ones. The first part has the metadata (split.count = N)
// and some of the tensors; every part is a GGUF of its own with split.no (its
// index from 0) and split.count, and its tensors' offsets are its own. The
// parts are found beside the first by that naming, as llama.cpp finds them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.hpp"
#include "mapped_file.hpp"

namespace wkv {

// The name of part `part` (1-based) of `count`: PREFIX-00002-of-00003.gguf.
std::string split_part_path(const std::string& prefix, uint32_t part, uint32_t count);

// One file of a model and its parsed header.
struct GgufPart {
    const MappedFile* file;
    GgufFile gguf;
};

// The parts after `first` (none for a whole file), mapped into `mapped` (kept
// for as long as their tensors are used) and parsed. Throws wkv::Error naming
// the file when the first is not the first part, a part is missing, belongs to
// another split, or holds a tensor another part holds.
std::vector<GgufPart> further_split_parts(const MappedFile& first_file, const GgufFile& first,
                                          std::vector<MappedFile>& mapped);

}  // namespace wkv
