// diffusers' AutoencoderKL (v0.20.2): Encoder, Decoder, quant_conv, post_quant_conv, with diffusers'
// parameter names, so a diffusers vae/diffusion_pytorch_model.safetensors loads by name.
// The scaling factor is not applied here: the pipeline decodes latents / scaling_factor and encodes to
// scaling_factor * sample.
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"
#include "afa/models/norms.h"

#include <vector>

#include "afa/models/vae_blocks.h"
#include "afa/models/vae_config.h"

namespace afa::models {

class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const AutoencoderKLConfig& c);
  // image [B, in_channels, H, W] -> moments before quant_conv [B, 2*latent_channels, H/f, W/f]
  torch::Tensor forward(const torch::Tensor& x);

  models::Conv2d conv_in{nullptr}, conv_out{nullptr};
  std::vector<DownEncoderBlock2D> down_blocks;
  UNetMidBlock2D mid_block{nullptr};
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Encoder);

class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const AutoencoderKLConfig& c);
  // z (after post_quant_conv) [B, latent_channels, h, w] -> image [B, out_channels, h*f, w*f]
  torch::Tensor forward(const torch::Tensor& z);

  models::Conv2d conv_in{nullptr}, conv_out{nullptr};
  UNetMidBlock2D mid_block{nullptr};
  std::vector<UpDecoderBlock2D> up_blocks;
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(Decoder);

// diffusers' DiagonalGaussianDistribution over the latents.
struct DiagonalGaussian {
  torch::Tensor mean;    // [B, latent_channels, h, w]
  torch::Tensor logvar;  // clamped to [-30, 20]
  torch::Tensor std;     // exp(0.5 * logvar)
  // mean + std * randn(mean's shape) drawn from `generator` (diffusers' latent_dist.sample(generator)).
  torch::Tensor sample(c10::optional<at::Generator> generator = c10::nullopt) const;
  const torch::Tensor& mode() const { return mean; }
};

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(const AutoencoderKLConfig& config);
  const AutoencoderKLConfig& config() const { return config_; }

  // image [B, in_channels, H, W] in [-1, 1] (H, W multiples of the downscale factor) -> latent distribution.
  DiagonalGaussian encode(const torch::Tensor& image);
  // Raw latents (already divided by scaling_factor) [B, latent_channels, h, w] -> image [B, out, h*f, w*f].
  torch::Tensor decode(const torch::Tensor& z);

  torch::Device device() const { return quant_conv->weight.device(); }
  torch::ScalarType dtype() const { return quant_conv->weight.scalar_type(); }

  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  models::Conv2d quant_conv{nullptr}, post_quant_conv{nullptr};

 private:
  AutoencoderKLConfig config_;
};
TORCH_MODULE(AutoencoderKL);

}  // namespace afa::models
