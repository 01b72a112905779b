// The safetensors format: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the data.
// The reader maps the file and hands out tensors that view the mapping where the dtype's alignment allows
// (copy-on-write, so a caller may modify them), and validates everything it reads.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace afa::io {

struct TensorInfo {
  std::string name;
  std::string dtype;             // "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;   // byte offsets relative to the start of the data section
};

class SafeTensorsFile {
 public:
  // Opens and validates the file; throws afa::Error naming the file (and tensor) on any problem.
  explicit SafeTensorsFile(const std::string& path);
  ~SafeTensorsFile();
  SafeTensorsFile(const SafeTensorsFile&) = delete;
  SafeTensorsFile& operator=(const SafeTensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Names in file order (ascending data offset).
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The tensor, on CPU, in its stored dtype. Zero-copy (it keeps the mapping alive) when aligned.
  torch::Tensor get(const std::string& name) const;
  // All tensors by name.
  std::map<std::string, torch::Tensor> all() const;

 private:
  struct Mapping;
  std::string path_;
  std::shared_ptr<Mapping> map_;
  std::vector<std::string> names_;
  std::map<std::string, TensorInfo> index_;
  std::map<std::string, std::string> metadata_;
  uint64_t data_offset_ = 0;  // 8 + header length
};

// Reads the whole file into a name -> tensor map.
std::map<std::string, torch::Tensor> load_safetensors(const std::string& path);

// Writes tensors (any device; they are moved to CPU and made contiguous) atomically: a temporary file in
// the same folder, fsync, then rename. Tensors are written in the given order.
void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void save_safetensors_map(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                          const std::map<std::string, std::string>& metadata = {});
// A map of tensors is written in name order. (A template, so that a braced list picks the overload above.)
template <typename Map, typename = decltype(std::declval<const Map&>().at(std::string()))>
void save_safetensors(const std::string& path, const Map& tensors,
                      const std::map<std::string, std::string>& metadata = {}) {
  save_safetensors_map(path, tensors, metadata);
}

// "F16" <-> torch::kHalf, etc. Throws afa::Error for unknown names.
torch::ScalarType dtype_from_name(const std::string& name);
std::string dtype_name(torch::ScalarType t);
size_t dtype_size(const std::string& name);

}  // namespace afa::io
