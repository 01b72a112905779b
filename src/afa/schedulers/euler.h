// EulerDiscreteScheduler (diffusers v0.20.2): Euler steps in sigma space, Algorithm 2 of Karras et al.
// 2022, https://arxiv.org/abs/2206.00364. Timesteps are float64 and sigmas float32, as diffusers derives
// them in numpy float64 and casts.
#pragma once

#include <limits>
#include <vector>

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

class EulerDiscreteScheduler : public Scheduler {
 public:
  explicit EulerDiscreteScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override;
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "euler"; }

  const torch::Tensor& sigmas() const { return sigmas_; }
  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }

  // diffusers' step kwargs (stochastic "churn"; the defaults give the deterministic sampler).
  double s_churn = 0.0;
  double s_tmin = 0.0;
  double s_tmax = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;

 private:
  SchedulerConfig cfg_;
  std::string spacing_;
  BetaSchedule sched_;
  torch::Tensor timesteps_, sigmas_;
};

}  // namespace afa::schedulers
