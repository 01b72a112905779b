// diffusers.models.resnet.Downsample2D and Upsample2D with use_conv=True (the only form SD uses).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "afa/models/layers.h"

namespace afa::models {

// 3x3 conv with stride 2. padding 1: the U-Net's symmetric padding. padding 0: the VAE encoder's form,
// which first pads one zero row/column on the bottom/right only (diffusers' F.pad(x, (0, 1, 0, 1))).
class Downsample2DImpl : public torch::nn::Module {
 public:
  Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);
  models::Conv2d conv{nullptr};

 private:
  int64_t channels_, padding_;
};
TORCH_MODULE(Downsample2D);

// Nearest-neighbour x2 (or to an explicit output size, diffusers' forward_upsample_size for odd sizes),
// then a 3x3 conv.
class Upsample2DImpl : public torch::nn::Module {
 public:
  Upsample2DImpl(int64_t channels, int64_t out_channels);
  // output_size: {} for x2, else {H, W}.
  torch::Tensor forward(const torch::Tensor& x, at::IntArrayRef output_size = {});
  models::Conv2d conv{nullptr};

 private:
  int64_t channels_;
};
TORCH_MODULE(Upsample2D);

}  // namespace afa::models
