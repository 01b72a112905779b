// One file of named tensors, whatever its format: a safetensors file, or a torch.save pickle (.ckpt,
// .pt, .pth, .bin, .pkl) read by the safe reader of torch_pickle.h. Loaders that accept both go
// through this, so that the two kinds of file are validated and renamed in exactly the same way.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "afa/io/safetensors.h"

namespace afa::io {

class WeightsFile {
 public:
  virtual ~WeightsFile() = default;
  virtual const std::string& path() const = 0;
  // Names in stored order.
  virtual const std::vector<std::string>& names() const = 0;
  virtual const TensorInfo& info(const std::string& name) const = 0;
  // The tensor, on CPU, in its stored dtype; a view of the mapped file where possible.
  virtual torch::Tensor get(const std::string& name) const = 0;
  // safetensors' __metadata__; empty for pickles.
  virtual const std::map<std::string, std::string>& metadata() const = 0;
};

// Opens and validates by name: pickle names (is_pickle_name) through the pickle reader, anything else
// as safetensors. Throws afa::Error naming the file.
std::shared_ptr<WeightsFile> open_weights_file(const std::string& path);

}  // namespace afa::io
