// UNet2DConditionModel's configuration, read from a diffusers config.json (diffusers v0.20.2 names and
// defaults). Only the SD 1.x/2.x family is implemented; other options are rejected with afa::Error.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace afa::models {

struct UNet2DConditionConfig {
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  bool center_input_sample = false;
  bool flip_sin_to_cos = true;
  double freq_shift = 0;
  std::vector<std::string> down_block_types{"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                            "CrossAttnDownBlock2D", "DownBlock2D"};
  std::vector<std::string> up_block_types{"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                          "CrossAttnUpBlock2D"};
  std::vector<int64_t> block_out_channels{320, 640, 1280, 1280};
  // Per down block (an int in the file applies to every block).
  std::vector<int64_t> layers_per_block{2, 2, 2, 2};
  std::vector<int64_t> transformer_layers_per_block{1, 1, 1, 1};
  // Heads per down block. diffusers' SD quirk: `attention_head_dim` in the file is the number of heads
  // (num_attention_heads = num_attention_heads or attention_head_dim).
  std::vector<int64_t> num_attention_heads{8, 8, 8, 8};
  int64_t downsample_padding = 1;
  double mid_block_scale_factor = 1.0;
  int64_t norm_num_groups = 32;
  double norm_eps = 1e-5;
  int64_t cross_attention_dim = 1280;
  bool use_linear_projection = false;
  bool upcast_attention = false;
  int64_t sample_size = 64;  // informational (latent size the model was trained at)

  int64_t num_blocks() const { return static_cast<int64_t>(block_out_channels.size()); }
  int64_t time_embed_dim() const { return block_out_channels.at(0) * 4; }
  bool down_has_attention(int64_t i) const { return down_block_types.at(i) == "CrossAttnDownBlock2D"; }
  // Up block i mirrors down block num_blocks-1-i (diffusers reverses the per-block lists).
  bool up_has_attention(int64_t i) const { return up_block_types.at(i) == "CrossAttnUpBlock2D"; }

  // Parses and validates; `source` names the file in error messages.
  static UNet2DConditionConfig from_json(const nlohmann::json& j, const std::string& source = "unet config");
  static UNet2DConditionConfig from_file(const std::string& path);
  // Structural checks (channel/group divisibility, list lengths); from_json calls it.
  void validate(const std::string& source = "unet config") const;
};

}  // namespace afa::models
