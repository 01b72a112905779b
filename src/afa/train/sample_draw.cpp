#include "afa/train/sample_draw.h"

#include <torch/torch.h>

#include "afa/train/random_streams.h"

namespace afa::train {

SampleDraw sample_draw(uint64_t seed, const ImageTransform& base, int64_t index, int64_t epoch, bool validation) {
  SampleDraw d;
  d.transform = base;
  const auto i = uint64_t(index);
  if (validation) {
    d.transform.center_crop = true;
    d.transform.random_flip = false;
    d.augment = stream_generator(seed, Stream::kValidation, i, 0);
    d.diffusion = stream_generator(seed, Stream::kValidation, i, 1);
  } else {
    d.augment = stream_generator(seed, Stream::kAugment, uint64_t(epoch), i);
    d.diffusion = stream_generator(seed, Stream::kDiffusion, uint64_t(epoch), i);
  }
  return d;
}

DiffusionDraw draw_diffusion(at::Generator& gen, double drop_text_probability, int64_t num_train_timesteps,
                             int64_t channels, int64_t size) {
  DiffusionDraw d;
  d.drop_text = torch::rand({1}, gen).item<double>() < drop_text_probability;
  d.timestep = torch::randint(0, num_train_timesteps, {1}, gen, torch::kLong).item<int64_t>();
  d.vae_eps = torch::randn({channels, size, size}, gen);
  d.noise = torch::randn({channels, size, size}, gen);
  return d;
}

}  // namespace afa::train
