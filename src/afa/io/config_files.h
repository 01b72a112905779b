// What --config files say, before any weights are seen: LDM yamls (v1-inference.yaml's layout), JSON
// files of diffusers/transformers configs, single component configs. See model_config.h for the rules.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace afa::io {

struct ConfigFiles {
  std::vector<std::string> files;
  nlohmann::json yaml = nlohmann::json::object();     // from an LDM yaml: {"unet", "vae", "scheduler"}
  nlohmann::json overlay = nlohmann::json::object();  // from JSON files: per component, merged
};
// Reads the files in order; throws afa::Error naming a file that is unreadable or of an unknown kind.
ConfigFiles read_config_files(const std::vector<std::string>& paths);
// The diffusers configs an LDM yaml implies: {"unet": ..., "vae": ..., "scheduler": ...}.
nlohmann::json configs_from_ldm_yaml(const std::string& path);
// model.yaml / model.yml beside model.safetensors, if present.
std::vector<std::string> configs_beside(const std::string& checkpoint_path);

}  // namespace afa::io
