// numpy's .npy arrays and .npz archives (np.save / np.savez: a zip of NAME.npy entries), read without
// Python, e.g. pytorch-fid's FID statistics (mu, sigma). Formats 1.0-3.0 of .npy; dtypes <f8 <f4 <f2 <i8
// <i4 <i2 |i1 |u1 |b1 (little-endian or byte-less); C or Fortran order. np.savez_compressed archives
// (deflated entries) are refused with the one-line numpy command that re-saves them uncompressed.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace afa::io {

// One .npy array from its bytes (a copy, C-contiguous). `what` names it in errors.
torch::Tensor parse_npy(const uint8_t* data, uint64_t size, const std::string& what);

// Every array of an .npz file by name (without ".npy"). Throws afa::Error naming the file and entry.
std::map<std::string, torch::Tensor> load_npz(const std::string& path);

}  // namespace afa::io
