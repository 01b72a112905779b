#include "afa/io/npz_file.h"

#include <torch/torch.h>

#include <cstring>
#include <regex>
#include <vector>

#include "afa/io/mapped_file.h"
#include "afa/io/zip_archive.h"
#include "afa/util/error.h"

namespace afa::io {

namespace {

torch::ScalarType npy_dtype(const std::string& descr, const std::string& what) {
  static const std::map<std::string, torch::ScalarType> kTypes{
      {"<f8", torch::kFloat64}, {"<f4", torch::kFloat32}, {"<f2", torch::kFloat16}, {"<i8", torch::kInt64},
      {"<i4", torch::kInt32},   {"<i2", torch::kInt16},   {"|i1", torch::kInt8},    {"|u1", torch::kUInt8},
      {"|b1", torch::kBool}};
  const auto it = kTypes.find(descr);
  AFA_CHECK(it != kTypes.end(), what, ": unsupported numpy dtype '", descr,
            "' (supported: little-endian float64/32/16, int64/32/16/8, uint8, bool)");
  return it->second;
}

}  // namespace

torch::Tensor parse_npy(const uint8_t* data, uint64_t size, const std::string& what) {
  static const char kMagic[] = "\x93NUMPY";
  AFA_CHECK(size >= 10 && std::memcmp(data, kMagic, 6) == 0, what, ": not a .npy array (no \\x93NUMPY magic)");
  const int major = data[6];
  AFA_CHECK(major >= 1 && major <= 3, what, ": unsupported .npy format version ", major, ".", int(data[7]));
  uint64_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = uint64_t(data[8]) | uint64_t(data[9]) << 8;
    start = 10;
  } else {
    AFA_CHECK(size >= 12, what, ": truncated .npy header");
    header_len = uint64_t(data[8]) | uint64_t(data[9]) << 8 | uint64_t(data[10]) << 16 | uint64_t(data[11]) << 24;
    start = 12;
  }
  AFA_CHECK(header_len <= size - start, what, ": the .npy header (", header_len, " bytes) runs past the data");
  const std::string header(reinterpret_cast<const char*>(data + start), header_len);
  // The header is a Python dict literal as numpy writes it: {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
  std::smatch m;
  AFA_CHECK(std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")), what,
            ": .npy header without 'descr' (a structured dtype?)");
  const auto dtype = npy_dtype(m[1], what);
  AFA_CHECK(std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*(True|False))")), what,
            ": .npy header without 'fortran_order'");
  const bool fortran = m[1] == "True";
  AFA_CHECK(std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")), what,
            ": .npy header without 'shape'");
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  static const std::regex kNumber(R"(\d+)");
  for (std::sregex_iterator it(dims.begin(), dims.end(), kNumber), end; it != end; ++it) {
    AFA_CHECK(it->str().size() <= 12, what, ": .npy dimension ", it->str(), " is too large");
    shape.push_back(std::stoll(it->str()));
  }
  int64_t numel = 1;
  for (auto d : shape) {
    AFA_CHECK(d == 0 || numel <= (int64_t(1) << 40) / d, what, ": .npy shape too large");
    numel *= d;
  }
  const uint64_t bytes = uint64_t(numel) * c10::elementSize(dtype);
  const uint64_t body = start + header_len;
  AFA_CHECK(bytes <= size - body, what, ": .npy data holds ", size - body, " bytes, the shape needs ", bytes);
  std::vector<int64_t> stored(shape);
  if (fortran) std::reverse(stored.begin(), stored.end());
  auto t = torch::empty(stored, torch::TensorOptions().dtype(dtype));
  if (bytes) std::memcpy(t.data_ptr(), data + body, bytes);
  if (fortran && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = int64_t(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

std::map<std::string, torch::Tensor> load_npz(const std::string& path) {
  const auto file = MappedFile::open(path);
  AFA_CHECK(looks_like_zip(file->data(), file->size()), path, ": not an .npz file (numpy's np.savez zip archive)");
  std::map<std::string, torch::Tensor> out;
  try {
    ZipArchive zip(file->data(), file->size(), path);
    for (const auto& e : zip.entries()) {
      const std::string name = e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".npy") == 0
                                   ? e.name.substr(0, e.name.size() - 4)
                                   : e.name;
      zip.verify_crc(e);
      out[name] = parse_npy(zip.bytes(e), e.size, path + ", array '" + name + "'");
    }
  } catch (const Error& err) {
    if (std::string(err.what()).find("compressed") == std::string::npos) throw;
    fail(err.what(), ". np.savez_compressed writes such files (pytorch-fid's --save-stats does); re-save it "
         "uncompressed once: python3 -c \"import numpy as n; d = n.load('", path, "'); n.savez('OUT.npz', **d)\"");
  }
  return out;
}

}  // namespace afa::io
