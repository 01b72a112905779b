#include "afa/io/config_defaults.h"

#include "afa/util/error.h"

namespace afa::io {

using nlohmann::json;

namespace {

// UNet2DConditionModel.__init__ defaults (diffusers 0.20).
const json& unet_defaults() {
  static const json d = {
      {"_class_name", "UNet2DConditionModel"},
      {"sample_size", nullptr},
      {"in_channels", 4},
      {"out_channels", 4},
      {"center_input_sample", false},
      {"flip_sin_to_cos", true},
      {"freq_shift", 0},
      {"down_block_types", {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"}},
      {"mid_block_type", "UNetMidBlock2DCrossAttn"},
      {"up_block_types", {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"}},
      {"only_cross_attention", false},
      {"block_out_channels", {320, 640, 1280, 1280}},
      {"layers_per_block", 2},
      {"downsample_padding", 1},
      {"mid_block_scale_factor", 1},
      {"act_fn", "silu"},
      {"norm_num_groups", 32},
      {"norm_eps", 1e-5},
      {"cross_attention_dim", 1280},
      {"transformer_layers_per_block", 1},
      {"encoder_hid_dim", nullptr},
      {"encoder_hid_dim_type", nullptr},
      {"attention_head_dim", 8},
      {"num_attention_heads", nullptr},
      {"dual_cross_attention", false},
      {"use_linear_projection", false},
      {"class_embed_type", nullptr},
      {"addition_embed_type", nullptr},
      {"addition_time_embed_dim", nullptr},
      {"num_class_embeds", nullptr},
      {"upcast_attention", false},
      {"resnet_time_scale_shift", "default"},
      {"resnet_skip_time_act", false},
      {"resnet_out_scale_factor", 1.0},
      {"time_embedding_type", "positional"},
      {"time_embedding_dim", nullptr},
      {"time_embedding_act_fn", nullptr},
      {"timestep_post_act", nullptr},
      {"time_cond_proj_dim", nullptr},
      {"conv_in_kernel", 3},
      {"conv_out_kernel", 3},
      {"projection_class_embeddings_input_dim", nullptr},
      {"attention_type", "default"},
      {"class_embeddings_concat", false},
      {"mid_block_only_cross_attention", nullptr},
      {"cross_attention_norm", nullptr},
      {"addition_embed_type_num_heads", 64},
  };
  return d;
}

// AutoencoderKL.__init__ defaults (diffusers 0.20).
const json& vae_defaults() {
  static const json d = {
      {"_class_name", "AutoencoderKL"},
      {"in_channels", 3},
      {"out_channels", 3},
      {"down_block_types", {"DownEncoderBlock2D"}},
      {"up_block_types", {"UpDecoderBlock2D"}},
      {"block_out_channels", {64}},
      {"layers_per_block", 1},
      {"act_fn", "silu"},
      {"latent_channels", 4},
      {"norm_num_groups", 32},
      {"sample_size", 32},
      {"scaling_factor", 0.18215},
      {"force_upcast", true},
  };
  return d;
}

// CLIPTextConfig defaults. bos/eos are 0/2 as in SD 1.x's text encoder configs (and transformers
// before 4.36); pooling then takes the argmax token, which SD does not use anyway.
const json& text_defaults() {
  static const json d = {
      {"architectures", {"CLIPTextModel"}},
      {"model_type", "clip_text_model"},
      {"vocab_size", 49408},
      {"hidden_size", 512},
      {"intermediate_size", 2048},
      {"projection_dim", 512},
      {"num_hidden_layers", 12},
      {"num_attention_heads", 8},
      {"max_position_embeddings", 77},
      {"hidden_act", "quick_gelu"},
      {"layer_norm_eps", 1e-5},
      {"attention_dropout", 0.0},
      {"initializer_range", 0.02},
      {"initializer_factor", 1.0},
      {"pad_token_id", 1},
      {"bos_token_id", 0},
      {"eos_token_id", 2},
  };
  return d;
}

}  // namespace

json merge_keys(json base, const json& over) {
  for (auto it = over.begin(); it != over.end(); ++it) base[it.key()] = it.value();
  return base;
}


json complete_config(Component c, const json& partial) {
  if (!partial.is_null() && !partial.is_object()) fail(component_name(c), " config is not a JSON object: ", partial.dump());
  const json& d = c == Component::UNet ? unet_defaults() : c == Component::VAE ? vae_defaults() : text_defaults();
  return partial.is_null() ? d : merge_keys(d, partial);
}

}  // namespace afa::io
