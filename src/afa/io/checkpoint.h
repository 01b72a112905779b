// Loading a Stable Diffusion checkpoint: a diffusers folder (model_index.json, unet/, vae/,
// text_encoder/, tokenizer/, scheduler/) or an LDM single file (.safetensors as CivitAI ships them,
// or a torch.save pickle .ckpt/.pt/.pth; model.diffusion_model.* / first_stage_model.* /
// cond_stage_model.transformer.*). Pickles are read by torch_pickle.h's reader, which never runs
// code and refuses any pickle that would (it names the global it calls).
//
// Either way the result holds each model's diffusers config and its weights under diffusers names,
// in the stored dtype (zero-copy views of the mapped file where possible), validated strictly against
// the config: an unknown key, a missing key or a wrong shape is an afa::Error naming the file and the
// first few offenders. Keys that carry nothing a diffusers model uses (position_ids, model_ema.*, DDPM
// buffers, ...) are dropped. Configs of single files: see model_config.h.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

#include "afa/io/model_config.h"

namespace afa::io {

struct ComponentWeights {
  nlohmann::json config;                          // diffusers / transformers config, complete
  std::map<std::string, torch::Tensor> tensors;   // diffusers names, stored dtype, CPU
  std::string source;                             // the file the weights came from, for messages
  bool loaded() const { return !config.is_null(); }
};

struct Checkpoint {
  std::string path;
  std::string format;        // "diffusers" or "ldm-single-file"
  unsigned components = 0;   // ComponentMask bits of the components loaded
  ComponentWeights unet, vae, text_encoder;
  nlohmann::json scheduler_config;
  std::string tokenizer_dir; // folder with vocab.json + merges.txt; "" if none (use the default)
  std::string dtype;         // stored dtypes of the loaded weights: "F16", "F32", or e.g. "F16+F32"

  ComponentWeights& component(Component c);
  const ComponentWeights& component(Component c) const;
};

// Loads the components in `components` (ComponentMask bits; the others stay empty and unread, so
// e.g. an ensemble can take only the U-Net of a file). `config_files` apply to single files only
// (see model_config.h); without them, model.yaml beside model.safetensors is used if present.
// A pickle single file (.ckpt / .pt / .pth) loads exactly as a .safetensors one with the same tensors;
// a folder's component may be a pickle .bin where it has no .safetensors.
Checkpoint load_checkpoint(const std::string& path, const std::vector<std::string>& config_files = {},
                           unsigned components = kAllComponents);

// "diffusers" for a folder, "ldm-single-file" for a file (safetensors or pickle); throws afa::Error
// when it is neither.
std::string checkpoint_format(const std::string& path);

}  // namespace afa::io
