// Time-step embeddings: diffusers' get_timestep_embedding / Timesteps (sinusoidal, no parameters) and
// TimestepEmbedding (linear_1 -> SiLU -> linear_2).
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"

namespace afa::models {

// Sinusoidal embedding of a 1-D tensor of timesteps (any int or float dtype) -> float32 [N, dim].
// Follows diffusers' get_timestep_embedding op by op so the float32 rounding is the same:
// freq_k = exp(-ln(max_period) * k / (dim/2 - downscale_freq_shift)), emb = [sin(t*f), cos(t*f)], and with
// flip_sin_to_cos the halves are swapped to [cos, sin]. An odd dim gets a zero column at the end.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, bool flip_sin_to_cos,
                                 double downscale_freq_shift, double scale = 1.0, double max_period = 10000.0);

// diffusers.models.embeddings.Timesteps.
class TimestepsImpl : public torch::nn::Module {
 public:
  TimestepsImpl(int64_t num_channels, bool flip_sin_to_cos, double downscale_freq_shift);
  torch::Tensor forward(const torch::Tensor& timesteps) const;

 private:
  int64_t num_channels_;
  bool flip_sin_to_cos_;
  double downscale_freq_shift_;
};
TORCH_MODULE(Timesteps);

// diffusers.models.embeddings.TimestepEmbedding with act_fn "silu" and no condition/post activation.
class TimestepEmbeddingImpl : public torch::nn::Module {
 public:
  TimestepEmbeddingImpl(int64_t in_channels, int64_t time_embed_dim);
  torch::Tensor forward(const torch::Tensor& sample);

  models::Linear linear_1{nullptr}, linear_2{nullptr};
};
TORCH_MODULE(TimestepEmbedding);

}  // namespace afa::models
