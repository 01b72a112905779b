// EulerAncestralDiscreteScheduler (diffusers v0.20.2): Euler steps with ancestral sampling (k-diffusion's
// sample_euler_ancestral, eta 1). Each step draws one randn(shape) from the step's generator.
#pragma once

#include "afa/schedulers/sigma_scheduler.h"

namespace afa::schedulers {

class EulerAncestralDiscreteScheduler : public SigmaScheduler {
 public:
  explicit EulerAncestralDiscreteScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "euler_a"; }
};

}  // namespace afa::schedulers
