// Which model a training run was given, so that a resume with other models (or the same ones in another
// order: aggregator slot i belongs to model i) is caught. A model file or folder is known by its name,
// the total size of its weight files and a SHA-256 over their headers and evenly spaced samples of their
// bytes: a fine-tune changes bytes everywhere, and reading 1 MiB per file keeps it instant for 4 GB
// checkpoints.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace afa::train {

struct ModelIdentity {
  std::string name;         // the file's or folder's name
  uint64_t size = 0;        // bytes of its weight files
  std::string fingerprint;  // sampled SHA-256, hex
  bool operator==(const ModelIdentity& o) const { return size == o.size && fingerprint == o.fingerprint; }
  bool operator!=(const ModelIdentity& o) const { return !(*this == o); }
};

// The identity of a model file or diffusers folder (its *.safetensors / *.ckpt / *.bin files, recursively).
// Throws afa::Error naming the path when it cannot be read.
ModelIdentity model_identity(const std::string& path);

nlohmann::json to_json(const ModelIdentity& m);
ModelIdentity identity_from_json(const nlohmann::json& j);

// Compares the recorded identities of a checkpoint with the models given now; returns "" when they match,
// otherwise what differs (which slot, what was recorded, what is given, "the same models in another order").
std::string identity_mismatch(const std::vector<ModelIdentity>& recorded, const std::vector<ModelIdentity>& given,
                              const std::vector<std::string>& given_paths);

}  // namespace afa::train
