// torch::nn::GroupNorm and LayerNorm that also accept an input whose floating dtype differs from their
// weights', as under mixed precision (a float32 aggregator fed by half-precision U-Nets, autocast's half
// outputs). They then normalise in float32 and return float32: what CUDA autocast's float32 policy for
// group_norm / layer_norm does, and what libtorch 1.13's CPU autocast lacks. Equal dtypes take torch's
// own path unchanged. Parameter names stay weight and bias.
#pragma once

#include <torch/torch.h>

namespace afa::models {

class GroupNormImpl : public torch::nn::GroupNormImpl {
 public:
  using torch::nn::GroupNormImpl::GroupNormImpl;
  torch::Tensor forward(const torch::Tensor& input);
};
TORCH_MODULE(GroupNorm);

class LayerNormImpl : public torch::nn::LayerNormImpl {
 public:
  using torch::nn::LayerNormImpl::LayerNormImpl;
  torch::Tensor forward(const torch::Tensor& input);
};
TORCH_MODULE(LayerNorm);

}  // namespace afa::models
