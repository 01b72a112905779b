// The VAE's blocks (no time embedding): diffusers' DownEncoderBlock2D, UpDecoderBlock2D and UNetMidBlock2D
// (resnet, single-head self-attention over pixels, resnet). All norms use eps 1e-6.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "afa/models/attention.h"
#include "afa/models/resnet.h"
#include "afa/models/sampling.h"

namespace afa::models {

// resnets.j, downsamplers.0 (asymmetric pad then stride-2 conv).
class DownEncoderBlock2DImpl : public torch::nn::Module {
 public:
  DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                         bool add_downsample);
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<ResnetBlock2D> resnets;
  Downsample2D downsampler{nullptr};
};
TORCH_MODULE(DownEncoderBlock2D);

// resnets.j, upsamplers.0 (nearest x2 then conv).
class UpDecoderBlock2DImpl : public torch::nn::Module {
 public:
  UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers, int64_t groups,
                       bool add_upsample);
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<ResnetBlock2D> resnets;
  Upsample2D upsampler{nullptr};
};
TORCH_MODULE(UpDecoderBlock2D);

// UNetMidBlock2D as the VAE builds it: resnets.0, attentions.0 (group_norm, to_q/k/v, to_out.0; one head of
// width `channels`, softmax in float32, residual), resnets.1.
class UNetMidBlock2DImpl : public torch::nn::Module {
 public:
  UNetMidBlock2DImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<ResnetBlock2D> resnets;
  std::vector<Attention> attentions;
};
TORCH_MODULE(UNetMidBlock2D);

}  // namespace afa::models
