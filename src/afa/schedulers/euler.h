// EulerDiscreteScheduler (diffusers v0.20.2): Euler steps in sigma space, Algorithm 2 of Karras et al.
// 2022, https://arxiv.org/abs/2206.00364. Timesteps are float64 and sigmas float32, as diffusers derives
// them in numpy float64 and casts.
#pragma once

#include <limits>

#include "afa/schedulers/sigma_scheduler.h"

namespace afa::schedulers {

class EulerDiscreteScheduler : public SigmaScheduler {
 public:
  explicit EulerDiscreteScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "euler"; }

  // diffusers' step kwargs (stochastic "churn"; the defaults give the deterministic sampler).
  double s_churn = 0.0;
  double s_tmin = 0.0;
  double s_tmax = std::numeric_limits<double>::infinity();
  double s_noise = 1.0;
};

}  // namespace afa::schedulers
