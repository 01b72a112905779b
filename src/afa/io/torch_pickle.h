// Pickled PyTorch checkpoints (torch.save: .ckpt / .pt / .pth), read without running anything.
//   zip format (torch >= 1.6): a zip archive with <name>/data.pkl, whose persistent ids
//     ('storage', torch.HalfStorage, key, location, numel) name the stored entries <name>/data/<key>;
//   legacy format: pickles in a row (magic number, protocol version, sys info, the object, the storage
//     keys), then each storage as its int64 element count and its raw bytes.
// The object pickle runs in pickle_reader's machine with an allow-list of globals: OrderedDict, the
// torch._utils tensor/parameter rebuilders, the typed storage classes, and a few inert values that
// training checkpoints carry beside the weights. Any other global (os.system, builtins.eval, ...) is an
// afa::Error naming it: nothing is ever called, but such a file is not a state dict and is refused.
// The tensors are those of the top-level dict, or of its "state_dict" entry when it has one; other
// values (global_step, epoch, optimizer state, ...) are ignored. Storages stay in the mapped file: a
// tensor that is a contiguous, aligned view of a storage no other tensor shares is a zero-copy view
// (copy-on-write, like SafeTensorsFile's); any other tensor is copied, so tensors never alias each other.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "afa/io/safetensors.h"

namespace afa::io {

class MappedFile;

class TorchPickleFile {
 public:
  // Reads and validates the whole structure (not the tensor bytes); throws afa::Error naming the file.
  explicit TorchPickleFile(const std::string& path);
  ~TorchPickleFile();
  TorchPickleFile(const TorchPickleFile&) = delete;
  TorchPickleFile& operator=(const TorchPickleFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "zip" or "legacy"
  // Names in the dict's order.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // dtype and shape; begin/end are the file bytes the tensor's elements span.
  const TensorInfo& info(const std::string& name) const;
  // The tensor, on CPU, contiguous, in its stored dtype (see above for when it is a view).
  torch::Tensor get(const std::string& name) const;
  std::map<std::string, torch::Tensor> all() const;

 private:
  struct Storage {
    uint64_t offset = 0;  // file offset of element 0
    int64_t numel = 0;
    torch::ScalarType dtype = torch::kFloat32;
    int users = 0;  // tensors of the result that view it
  };
  struct Entry {
    TensorInfo info;
    size_t storage = 0;
    int64_t storage_offset = 0;
    std::vector<int64_t> stride;
  };
  friend struct TorchPickleParser;
  std::string path_, format_;
  std::shared_ptr<MappedFile> file_;
  std::vector<Storage> storages_;
  std::vector<std::string> names_;
  std::map<std::string, Entry> index_;
};

// Whether the name says pickle: .ckpt, .pt, .pth, .bin or .pkl (any case).
bool is_pickle_name(const std::string& path);

std::map<std::string, torch::Tensor> load_torch_pickle(const std::string& path);

}  // namespace afa::io
