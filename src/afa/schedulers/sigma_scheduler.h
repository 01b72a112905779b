// The sigma-space samplers (Euler, Euler ancestral, LMS; k-diffusion's family): the sigma grid they share
// and a base class owning what they have in common (beta schedule, timesteps, sigmas, input scaling).
#pragma once

#include <string>

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

// The sigma grid shared by Euler, Euler ancestral and LMS.
struct SigmaGrid {
  torch::Tensor timesteps;  // float64 [n]
  torch::Tensor sigmas;     // float32 [n + 1] (n + 2 for Euler's log_linear interpolation, as diffusers)
};
// timestep_spacing -> float timesteps, np.interp of the training sigmas (linear) or diffusers' log_linear,
// optional Karras sigmas. `interpolation` is "linear" except for Euler.
SigmaGrid make_sigma_grid(const SchedulerConfig& cfg, const torch::Tensor& alphas_cumprod, int64_t num_inference_steps,
                          const std::string& interpolation, bool use_karras_sigmas, const std::string& who);
// sigma.max() (linspace/trailing) or sqrt(sigma.max()^2 + 1) (leading), computed in float32.
double sigma_init_noise(const torch::Tensor& sigmas, const std::string& spacing);
// sample / sqrt(sigma^2 + 1) with float32 0-d sigma.
torch::Tensor sigma_scale_input(const torch::Tensor& sample, const torch::Tensor& sigma);

class SigmaScheduler : public Scheduler {
 public:
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override;
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;

  const torch::Tensor& sigmas() const { return sigmas_; }
  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }

 protected:
  // `who`: the diffusers class name, for error messages.
  SigmaScheduler(const SchedulerConfig& cfg, const std::string& who);
  void set_grid(const SigmaGrid& grid);

  SchedulerConfig cfg_;
  std::string spacing_;
  BetaSchedule sched_;
  torch::Tensor timesteps_, sigmas_;
};

}  // namespace afa::schedulers
