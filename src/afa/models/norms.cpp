#include "afa/models/norms.h"

namespace afa::models {

namespace {
torch::Tensor f32(const torch::Tensor& t) { return t.defined() ? t.to(torch::kFloat32) : t; }
}  // namespace

torch::Tensor GroupNormImpl::forward(const torch::Tensor& input) {
  if (!weight.defined() || input.scalar_type() == weight.scalar_type()) return torch::nn::GroupNormImpl::forward(input);
  return torch::group_norm(f32(input), options.num_groups(), f32(weight), f32(bias), options.eps());
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& input) {
  if (!weight.defined() || input.scalar_type() == weight.scalar_type()) return torch::nn::LayerNormImpl::forward(input);
  return torch::layer_norm(f32(input), options.normalized_shape(), f32(weight), f32(bias), options.eps());
}

}  // namespace afa::models
