// Reference features computed once and reused: a COCO reference set's FID statistics or CLIP image
// embeddings cost minutes to hours and never change, so afa eval keeps them in a cache folder (default
// $AFA_CACHE_DIR, else $XDG_CACHE_HOME/afa/features, else ~/.cache/afa/features), one .safetensors file
// per (kind, file list, weights) written atomically. The key is the SHA-256 of a JSON description: the
// feature kind, the sorted image files' names, sizes and modification times, and each weights file's
// canonical path, size and modification time. Changing, adding, removing or touching a reference image,
// or replacing the weights, gives another key: the stale entry is simply never read again. The stored
// description is compared on load, so a damaged or foreign file is a miss, never a wrong number.
#pragma once

#include <torch/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace afa::metrics {

// The cache's description of a feature set (JSON text); its SHA-256 is the file name.
std::string reference_cache_description(const std::string& kind, const std::vector<std::string>& files,
                                        const std::vector<std::string>& weights_files);

// $AFA_CACHE_DIR, else $XDG_CACHE_HOME/afa/features, else $HOME/.cache/afa/features ("" without $HOME).
std::string default_feature_cache_dir();

class FeatureCache {
 public:
  // An empty folder disables the cache (every load misses, store does nothing).
  explicit FeatureCache(std::string dir) : dir_(std::move(dir)) {}
  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  std::string path_for(const std::string& description) const;

  // The stored tensors of this description, or nothing when absent, unreadable or of another description.
  std::optional<std::map<std::string, torch::Tensor>> load(const std::string& description) const;
  // Writes them (creating the folder); returns the file, or "" with a warning on stderr when it cannot be
  // written (the cache only saves time; the run goes on).
  std::string store(const std::string& description, const std::map<std::string, torch::Tensor>& tensors) const;

 private:
  std::string dir_;
};

}  // namespace afa::metrics
