// Writing a diffusers StableDiffusionPipeline folder, the layout load_checkpoint reads and diffusers'
// from_pretrained loads: model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <map>
#include <string>

#include "afa/io/component.h"

namespace afa::io {

struct FolderComponent {
  nlohmann::json config;                          // diffusers / transformers config (complete)
  std::map<std::string, torch::Tensor> tensors;   // diffusers names
};

struct PipelineFolder {
  FolderComponent unet, vae, text_encoder;
  std::string tokenizer_dir;                      // copied: vocab.json, merges.txt and its JSON files
  nlohmann::json scheduler_config;
  torch::ScalarType dtype = torch::kFloat32;      // floating tensors are stored in this dtype
};

// model_index.json of a StableDiffusionPipeline (diffusers 0.20.2's layout) with this scheduler class.
nlohmann::json model_index_json(const std::string& scheduler_class);

// Writes the folder beside `dir` and renames it into place, so `dir` is never half-written. An existing
// `dir` is replaced only when `replace` is set (it must then be a diffusers folder itself).
void save_diffusers_folder(const std::string& dir, const PipelineFolder& p, bool replace = false);

}  // namespace afa::io
