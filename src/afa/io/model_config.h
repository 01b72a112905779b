// The configs of a checkpoint's models, as nlohmann::json in diffusers / transformers format (what a
// diffusers folder's config.json files hold; the model classes parse those).
//
// A single file stores weights only. Its configs come, per component, from the first that applies:
//   1. an LDM yaml given with --config (or beside the checkpoint: model.yaml / model.yml for
//      model.safetensors, used only when no --config is given) -> U-Net, VAE and scheduler;
//   2. SD 1.5's known configs when the weights have SD 1.5's shapes (U-Net 320 x (1,2,4,4) with 768
//      context, SD's VAE, CLIP ViT-L/14 text: 768 wide, 12 layers);
//   3. the structure read off the weights' shapes (channels, block and layer counts, attention
//      placement, context width, text hidden/layers/intermediate/vocab/positions);
// then the JSON config files are laid over it key by key (later files win), and the class defaults
// fill what is still absent. What the weights cannot tell (U-Net head count, text head count, VAE
// scaling factor) must come from 1, 2 or a JSON file, else loading fails naming what to give.
//
// Accepted --config files (any number, in order):
//   * An LDM yaml in v1-inference.yaml's layout (model.params.unet_config.params: in_channels,
//     out_channels, model_channels, channel_mult, num_res_blocks, attention_resolutions, num_heads or
//     num_head_channels, context_dim, transformer_depth, use_linear_in_transformer;
//     model.params.first_stage_config.params.ddconfig: ch, ch_mult, num_res_blocks, z_channels,
//     in_channels, out_ch; model.params: scale_factor, image_size (latent size), linear_start,
//     linear_end, timesteps, parameterization). It says nothing usable about the text encoder.
//   * A JSON file {"unet": {...}, "vae": {...}, "text_encoder": {...}, "scheduler": {...}}, any subset,
//     each a diffusers/transformers config (any subset of its keys), e.g.
//       {"text_encoder": {"num_attention_heads": 4}, "unet": {"attention_head_dim": 8}}
//   * A single component's JSON config as found in a diffusers folder or on the Hub: a transformers
//     CLIPTextConfig ("model_type": "clip_text_model") -> text_encoder; "_class_name"
//     UNet2DConditionModel -> unet, AutoencoderKL -> vae, *Scheduler -> scheduler.
// Diffusers folders use their own config.json files; --config does not apply to them.
// The scheduler of a single file is SD 1.5's PNDMScheduler config, with the yaml's betas/timesteps.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "afa/io/component.h"
#include "afa/io/config_files.h"

namespace afa::io {

struct ModelConfigs {
  nlohmann::json unet, vae, text_encoder, scheduler;  // complete; null for components not asked for
};
// The configs of the single file at `path` (whose tensor shapes are `shapes`) for the components in
// `components`, following the rules above.
ModelConfigs single_file_configs(const std::string& path, const ShapeMap& shapes,
                                 const ConfigFiles& files, unsigned components);

}  // namespace afa::io
