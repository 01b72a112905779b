// EulerAncestralDiscreteScheduler (diffusers v0.20.2): Euler steps with ancestral sampling (k-diffusion's
// sample_euler_ancestral, eta 1). Each step draws one randn(shape) from the step's generator.
#pragma once

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

class EulerAncestralDiscreteScheduler : public Scheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override;
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "euler_a"; }

  const torch::Tensor& sigmas() const { return sigmas_; }
  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }

 private:
  SchedulerConfig cfg_;
  std::string spacing_;
  BetaSchedule sched_;
  torch::Tensor timesteps_, sigmas_;
};

}  // namespace afa::schedulers
