#include "afa/train/denoising_loss.h"

#include "afa/util/error.h"

namespace afa::train {

torch::Tensor per_sample_denoising_loss(pipeline::Denoiser& denoiser, const schedulers::DDPMScheduler& scheduler,
                                        const torch::Tensor& x0, const torch::Tensor& noise,
                                        const torch::Tensor& timesteps, const std::vector<torch::Tensor>& contexts) {
  AFA_CHECK(x0.dim() == 4 && noise.sizes() == x0.sizes(), "training: latents ", x0.sizes(), " and noise ",
            noise.sizes(), " must be equal [B, C, h, w]");
  AFA_CHECK(timesteps.dim() == 1 && timesteps.size(0) == x0.size(0), "training: timesteps must be [",
            x0.size(0), "], got ", timesteps.sizes());
  auto noisy = scheduler.add_noise(x0, noise, timesteps);
  auto pred = denoiser.predict(noisy, timesteps, contexts);
  auto diff = pred.to(torch::kFloat32) - noise.to(pred.device(), torch::kFloat32);
  return diff.pow(2).flatten(1).mean(1);
}

}  // namespace afa::train
