#include "afa/models/embeddings.h"

#include <cmath>

#include "afa/util/error.h"

namespace afa::models {

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                 double downscale_freq_shift, double scale, double max_period) {
  AFA_CHECK(timesteps.dim() == 1, "timesteps must be a 1-D tensor, got shape ", timesteps.sizes());
  AFA_CHECK(dim >= 2, "timestep embedding size must be >= 2, got ", dim);
  const int64_t half_dim = dim / 2;
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(timesteps.device());
  // Same op order as diffusers (scalar * arange, then / (half - shift)): the float32 roundings agree.
  auto exponent = -std::log(max_period) * torch::arange(0, half_dim, opts);
  exponent = exponent / (static_cast<double>(half_dim) - downscale_freq_shift);
  auto emb = torch::exp(exponent);
  emb = timesteps.unsqueeze(1).to(torch::kFloat32) * emb.unsqueeze(0);
  if (scale != 1.0) emb = emb * scale;
  // flip_sin_to_cos swaps the halves: [cos, sin] (a pure copy, so built directly).
  emb = flip_sin_to_cos ? torch::cat({torch::cos(emb), torch::sin(emb)}, -1)
                        : torch::cat({torch::sin(emb), torch::cos(emb)}, -1);
  if (dim % 2 == 1) emb = torch::constant_pad_nd(emb, {0, 1, 0, 0});
  return emb;
}

TimestepsImpl::TimestepsImpl(int64_t num_channels, bool flip_sin_to_cos, double downscale_freq_shift)
    : num_channels_(num_channels), flip_sin_to_cos_(flip_sin_to_cos), downscale_freq_shift_(downscale_freq_shift) {}

torch::Tensor TimestepsImpl::forward(const torch::Tensor& timesteps) const {
  return timestep_embedding(timesteps, num_channels_, flip_sin_to_cos_, downscale_freq_shift_);
}

TimestepEmbeddingImpl::TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim) {
  linear_1 = register_module("linear_1", models::Linear(in_channels, time_embed_dim));
  linear_2 = register_module("linear_2", models::Linear(time_embed_dim, time_embed_dim));
}

torch::Tensor TimestepEmbeddingImpl::forward(const torch::Tensor& sample) {
  return linear_2(torch::silu(linear_1(sample)));
}

}  // namespace afa::models
