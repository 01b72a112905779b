// The training objective of train.py (and of SD): noise the clean latents to random timesteps with the
// DDPM forward process, let the denoiser predict the noise, take the mean squared error.
#pragma once

#include <torch/types.h>

#include <vector>

#include "afa/pipeline/denoiser.h"
#include "afa/schedulers/ddpm.h"

namespace afa::train {

// x0 (scaled latents) [B, 4, h, w], noise like x0, timesteps I64 [B], contexts one [B, 77, D] per model.
// Returns the per-sample mean squared error [B] (float32): mse_loss(pred.float(), noise.float()) is its mean.
torch::Tensor per_sample_denoising_loss(pipeline::Denoiser& denoiser, const schedulers::DDPMScheduler& scheduler,
                                        const torch::Tensor& x0, const torch::Tensor& noise,
                                        const torch::Tensor& timesteps, const std::vector<torch::Tensor>& contexts);

}  // namespace afa::train
