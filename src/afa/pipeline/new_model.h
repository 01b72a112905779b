// A new Stable Diffusion pipeline with freshly initialised weights (PyTorch's default initialisation, as
// diffusers' from_config gives), written as a diffusers folder: the starting point of models trained from
// scratch, such as the demo world's.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace afa::pipeline {

struct NewModelOptions {
  // {"unet": {...}, "vae": {...}, "text_encoder": {...}, "scheduler": {...}}: diffusers / transformers
  // configs (absent keys take the class defaults, except the text encoder's vocab_size, which is the
  // tokenizer's; an absent scheduler is SD 1.5's).
  nlohmann::json configs;
  std::string tokenizer_dir;  // vocab.json + merges.txt (CLIP's BPE format) to ship with the model
  uint64_t seed = 0;          // the initial weights
};

// Writes the folder atomically; throws afa::Error for bad configs (naming them) or an existing `dir`.
void create_model_folder(const std::string& dir, const NewModelOptions& options);

}  // namespace afa::pipeline
