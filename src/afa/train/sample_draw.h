// The draw rule of one training sample, in one place for the training batches and the latent cache:
// which crop/flip it gets and which generators supply its randomness (see random_streams.h). Validation
// samples get a centre crop, no flip and fixed draws, the same at every evaluation.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "afa/train/dataset.h"

namespace afa::train {

struct SampleDraw {
  ImageTransform transform;
  at::Generator augment;    // crop offsets and flip
  at::Generator diffusion;  // text dropout, timestep, VAE sample, noise (in that order)
};

SampleDraw sample_draw(uint64_t seed, const ImageTransform& base, int64_t index, int64_t epoch, bool validation);

// What the diffusion generator draws for one sample, in this order.
struct DiffusionDraw {
  bool drop_text = false;
  int64_t timestep = 0;
  torch::Tensor vae_eps;  // the VAE posterior sample's unit noise [C, h, w]
  torch::Tensor noise;    // the noise added at `timestep` [C, h, w]
};

DiffusionDraw draw_diffusion(at::Generator& gen, double drop_text_probability, int64_t num_train_timesteps,
                             int64_t channels, int64_t size);

}  // namespace afa::train
