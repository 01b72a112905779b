// AutoencoderKL's configuration, read from a diffusers config.json (v0.20.2 names and defaults).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace afa::models {

struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels{64};
  int64_t layers_per_block = 1;
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  int64_t sample_size = 32;       // informational
  double scaling_factor = 0.18215;  // latents = scaling_factor * sample of the latent distribution (caller applies it)
  bool force_upcast = true;       // informational: diffusers runs the VAE in float32 when asked for float16

  int64_t num_blocks() const { return static_cast<int64_t>(block_out_channels.size()); }
  // Image size / latent size.
  int64_t downscale_factor() const { return int64_t(1) << (num_blocks() - 1); }

  static AutoencoderKLConfig from_json(const nlohmann::json& j, const std::string& source = "vae config");
  static AutoencoderKLConfig from_file(const std::string& path);
  void validate(const std::string& source = "vae config") const;
};

}  // namespace afa::models
