// One Stable Diffusion checkpoint, loaded into modules: what text-to-image (and an ensemble member) needs.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "afa/io/checkpoint.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/schedulers/scheduler_config.h"
#include "afa/text/clip_text_model.h"
#include "afa/text/clip_tokenizer.h"

namespace afa::pipeline {

struct LoadOptions {
  std::vector<std::string> config_files;  // --config (single files only)
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;
  bool load_vae = true;                   // an ensemble needs only one VAE
};

struct StableDiffusion {
  std::string path, name;  // name: the checkpoint's base name, for PNG metadata
  std::string format;      // "diffusers" or "ldm-single-file"
  std::shared_ptr<text::ClipTokenizer> tokenizer;
  std::shared_ptr<text::ClipTextModel> text_encoder;
  models::UNet2DConditionModel unet{nullptr};
  models::AutoencoderKL vae{nullptr};  // null when not loaded
  schedulers::SchedulerConfig scheduler_config;
};

// Loads a diffusers folder or an LDM single file, moves it to the device/dtype, eval mode, no gradients.
StableDiffusion load_stable_diffusion(const std::string& path, const LoadOptions& opts = {});

// The CLIP vocabulary shipped with afa (single files carry none): $AFA_DATA_DIR/clip_tokenizer or the
// source tree's data/clip_tokenizer.
std::string default_tokenizer_dir();

// Tokenizer of a checkpoint: its tokenizer/ folder, else the shipped CLIP vocabulary.
std::shared_ptr<text::ClipTokenizer> load_tokenizer(const io::Checkpoint& ckpt);

}  // namespace afa::pipeline
