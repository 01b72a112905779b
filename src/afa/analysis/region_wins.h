// Where each model denoises best (the paper's Figure 1, and the motivation of AFA): for one image and its
// prompt, noise the image's latents to timestep t with K Monte-Carlo noises (DDPM's forward process), let
// every contender predict the noise (conditioned on the prompt, no guidance), and per latent patch of P×P
// pixels take the squared error; the contender with the smallest error wins that (noise, t, patch).
// Exact ties are counted as ties, never given to the first contender.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "afa/pipeline/denoiser.h"
#include "afa/schedulers/ddpm.h"

namespace afa::analysis {

struct RegionWinsOptions {
  std::vector<int64_t> timesteps = {100, 300, 500, 700, 900};
  int64_t samples = 8;   // Monte-Carlo noises per timestep
  int64_t patch = 2;     // latent pixels per patch side (the latent size must be a multiple)
  uint64_t seed = 0;     // the noises: torch.Generator('cpu').manual_seed(seed), drawn [T, K, C, h, w]
};

// One contender: a denoiser and the text contexts it takes (one [1, 77, D] per model it runs).
struct Contender {
  std::string name;
  pipeline::Denoiser* denoiser = nullptr;
  std::vector<torch::Tensor> contexts;
};

struct RegionWins {
  std::vector<std::string> contenders;
  std::vector<int64_t> timesteps;
  int64_t patch = 0, rows = 0, cols = 0, samples = 0;
  // wins[t][r][c][k]: the fraction of the K noises in which contender k won patch (r, c) at timesteps[t];
  // k = contenders.size() is "ties". Each (t, r, c) sums to 1.
  torch::Tensor wins;          // float64 [T, rows, cols, C + 1]
  torch::Tensor image_wins;    // float64 [T, C + 1]: the same for the whole latent
  torch::Tensor errors;        // float64 [T, K, C]: each noise's mean squared error over the whole latent
};

// x0: the image's scaled latents [1, 4, h, w] (VAE mean × scaling_factor). Throws afa::Error when the patch
// does not divide the latent or an option is impossible.
// `on_timestep(done, total)` is called after each timestep (a progress bar).
RegionWins region_wins(const std::vector<Contender>& contenders, const schedulers::DDPMScheduler& ddpm,
                       const torch::Tensor& x0, const RegionWinsOptions& o,
                       const std::function<void(int64_t, int64_t)>& on_timestep = {});

// The winner of each value along the last dimension: index of the unique minimum, or `ties` (= size) when
// two or more are equal to the minimum. errors [..., C] -> int64 [...].
torch::Tensor winners(const torch::Tensor& errors);

}  // namespace afa::analysis
