// One input of a merge: its tensors under LDM single-file names, read lazily from the memory-mapped
// files, so a merge touches one tensor of each input at a time.
//   - LDM single file (.safetensors, or a torch.save pickle .ckpt/.pt/.pth read by io::TorchPickleFile):
//     every key but the EMA copies (model_ema.*, which a merge would leave stale), text-encoder names
//     made canonical (with "text_model.").
//   - diffusers folder: the U-Net, VAE and text encoder through the rename table (VAE attention
//     reshaped to LDM's 1x1 convs), so folders and single files merge with each other.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "afa/io/ldm_names.h"
#include "afa/io/safetensors.h"
#include "afa/io/torch_pickle.h"

namespace afa::merge {

class ModelSource {
 public:
  // Throws afa::Error naming `path` when it is neither a single file (safetensors or pickle) nor a diffusers folder.
  explicit ModelSource(const std::string& path);

  const std::string& path() const { return path_; }
  const std::string& format() const { return format_; }  // "ldm-single-file" or "diffusers"
  // Keys in LDM naming, in stored order.
  const std::vector<std::string>& keys() const { return keys_; }
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  const std::vector<int64_t>& shape(const std::string& key) const { return at(key).shape; }
  torch::ScalarType dtype(const std::string& key) const { return at(key).dtype; }
  // The stored tensor (stored dtype, LDM shape); a view of the mapped file where possible.
  torch::Tensor get(const std::string& key) const;
  // Drops the key's pages (or those of rows [row_begin, row_end) of it) from memory once they are
  // merged (safetensors single files; a no-op for folders and pickles). Views of them that were modified
  // would lose the changes.
  void release(const std::string& key, int64_t row_begin = 0, int64_t row_end = -1) const;
  // The file's own safetensors metadata (single files), e.g. an earlier merge's recipe.
  const std::map<std::string, std::string>& metadata() const;
  // The diffusers name of a key when the input is a folder (for messages); "" otherwise.
  std::string stored_name(const std::string& key) const { return at(key).stored; }

 private:
  struct Entry {
    std::string stored;  // name in its file
    uint64_t begin = 0, end = 0;  // single files: byte range in the data section
    std::vector<int64_t> shape;
    torch::ScalarType dtype;
    torch::Tensor tensor;  // folders: the view, already in LDM shape
  };
  struct Mapping;
  const Entry& at(const std::string& key) const;
  std::string path_, format_;
  // Single files: the validated header, and a mapping of our own whose pages release() can drop.
  std::shared_ptr<io::SafeTensorsFile> file_;
  // Pickle single files: the reader, which hands out tensors on demand.
  std::shared_ptr<io::TorchPickleFile> pickle_;
  std::shared_ptr<Mapping> map_;
  uint64_t data_offset_ = 0;
  std::vector<std::string> keys_;
  std::map<std::string, Entry> index_;
};

// Whether a key takes part in merges: a weight or bias (supermerger's test: the name contains
// "weight" or "bias") of one of the three models, not a buffer such as position_ids.
bool is_mergeable_key(const std::string& key);

}  // namespace afa::merge
