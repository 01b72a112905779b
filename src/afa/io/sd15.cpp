#include "afa/io/sd15.h"

#include "afa/io/config_defaults.h"
#include "afa/io/ldm_names.h"

namespace afa::io {

using nlohmann::json;

json sd15_unet_config() {
  return complete_config(Component::UNet, {{"block_out_channels", {320, 640, 1280, 1280}},
                                           {"cross_attention_dim", 768},
                                           {"attention_head_dim", 8},
                                           {"layers_per_block", 2},
                                           {"sample_size", 64}});
}

json sd15_vae_config() {
  return complete_config(Component::VAE,
                         {{"block_out_channels", {128, 256, 512, 512}},
                          {"down_block_types", {"DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"}},
                          {"up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"}},
                          {"layers_per_block", 2},
                          {"sample_size", 512},
                          {"scaling_factor", 0.18215}});
}

// CLIP ViT-L/14's text tower.
json sd15_text_encoder_config() {
  return complete_config(Component::TextEncoder, {{"hidden_size", 768},
                                                  {"intermediate_size", 3072},
                                                  {"projection_dim", 768},
                                                  {"num_hidden_layers", 12},
                                                  {"num_attention_heads", 12}});
}

json sd15_scheduler_config() {
  return {{"_class_name", "PNDMScheduler"},
          {"beta_end", 0.012},
          {"beta_schedule", "scaled_linear"},
          {"beta_start", 0.00085},
          {"clip_sample", false},
          {"num_train_timesteps", 1000},
          {"prediction_type", "epsilon"},
          {"set_alpha_to_one", false},
          {"skip_prk_steps", true},
          {"steps_offset", 1},
          {"timestep_spacing", "leading"},
          {"trained_betas", nullptr}};
}

bool is_sd15_component(Component c, const ShapeMap& shapes) {
  static const ParamTable tables[3] = {unet_params(sd15_unet_config()), vae_params(sd15_vae_config()),
                                       text_encoder_params(sd15_text_encoder_config())};
  const ParamTable& t = tables[int(c)];
  for (const auto& e : t) {
    auto it = shapes.find(e.ldm);
    if (it == shapes.end() || !ldm_shape_matches(e, it->second)) return false;
  }
  // No extra weights either (a deeper transformer would add some).
  size_t n = 0;
  for (const auto& [name, shape] : shapes) {
    if (ldm_component(name) == c && !is_ignorable_ldm_key(name)) ++n;
  }
  return n == t.size();
}

bool is_sd15(const ShapeMap& shapes) {
  return is_sd15_component(Component::UNet, shapes) && is_sd15_component(Component::VAE, shapes) &&
         is_sd15_component(Component::TextEncoder, shapes);
}

}  // namespace afa::io
