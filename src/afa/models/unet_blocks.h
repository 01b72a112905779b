// The U-Net's blocks: diffusers' CrossAttnDownBlock2D / DownBlock2D, UNetMidBlock2DCrossAttn and
// CrossAttnUpBlock2D / UpBlock2D. The down and up blocks are exposed layer by layer (a layer = one resnet
// followed by its attention, if the block has attentions), because the staged U-Net forward stops
// between layers.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "afa/models/resnet.h"
#include "afa/models/sampling.h"
#include "afa/models/transformer_2d.h"

namespace afa::models {

// What the down, mid and up blocks share.
struct UNetBlockOptions {
  int64_t temb_channels = 1280;
  int64_t num_layers = 2;               // resnets (and attentions) in the block
  bool has_cross_attention = true;      // CrossAttn*Block2D vs plain *Block2D
  int64_t transformer_layers = 1;       // transformer_layers_per_block
  int64_t num_attention_heads = 8;
  int64_t cross_attention_dim = 768;
  int64_t resnet_groups = 32;
  double resnet_eps = 1e-5;
  double output_scale_factor = 1.0;     // the mid block's mid_block_scale_factor
  bool use_linear_projection = false;
  bool upcast_attention = false;
};

// A Transformer2DModel over `channels` with the block's attention settings.
Transformer2DModel make_unet_transformer(int64_t channels, const UNetBlockOptions& o);

// CrossAttnDownBlock2D (has_cross_attention) or DownBlock2D: resnets.j, attentions.j, downsamplers.0.
class DownBlock2DImpl : public torch::nn::Module {
 public:
  DownBlock2DImpl(int64_t in_channels, int64_t out_channels, bool add_downsample, int64_t downsample_padding,
                  const UNetBlockOptions& o);
  int64_t num_layers() const { return static_cast<int64_t>(resnets.size()); }
  bool has_downsampler() const { return !downsampler.is_empty(); }
  // Layer j: resnets[j] then attentions[j].
  torch::Tensor layer(int64_t j, const torch::Tensor& x, const torch::Tensor& temb, const torch::Tensor& context);
  torch::Tensor downsample(const torch::Tensor& x);

  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;  // empty for DownBlock2D
  Downsample2D downsampler{nullptr};
};
TORCH_MODULE(DownBlock2D);

// UNetMidBlock2DCrossAttn (num_layers 1): resnets.0, attentions.0, resnets.1.
class UNetMidBlock2DCrossAttnImpl : public torch::nn::Module {
 public:
  UNetMidBlock2DCrossAttnImpl(int64_t channels, const UNetBlockOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& temb, const torch::Tensor& context);

  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;
};
TORCH_MODULE(UNetMidBlock2DCrossAttn);

// CrossAttnUpBlock2D (has_cross_attention) or UpBlock2D: resnets.j, attentions.j, upsamplers.0.
// Layer j concatenates a skip connection (channels skip_channels(j)) onto its input first.
class UpBlock2DImpl : public torch::nn::Module {
 public:
  UpBlock2DImpl(int64_t in_channels, int64_t prev_output_channel, int64_t out_channels, bool add_upsample,
                const UNetBlockOptions& o);
  int64_t num_layers() const { return static_cast<int64_t>(resnets.size()); }
  bool has_upsampler() const { return !upsampler.is_empty(); }
  // Layer j: cat([x, skip], channels) -> resnets[j] -> attentions[j].
  torch::Tensor layer(int64_t j, const torch::Tensor& x, const torch::Tensor& skip, const torch::Tensor& temb,
                      const torch::Tensor& context);
  // output_size {H, W}, or {} for x2.
  torch::Tensor upsample(const torch::Tensor& x, at::IntArrayRef output_size = {});

  std::vector<ResnetBlock2D> resnets;
  std::vector<Transformer2DModel> attentions;  // empty for UpBlock2D
  Upsample2D upsampler{nullptr};
};
TORCH_MODULE(UpBlock2D);

}  // namespace afa::models
