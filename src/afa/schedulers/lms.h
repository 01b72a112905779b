// LMSDiscreteScheduler (diffusers v0.20.2): linear multistep in sigma space (k-diffusion's sample_lms).
// The coefficients integrate the Lagrange basis polynomials through the last `order` sigmas; diffusers
// does that with scipy.integrate.quad on an integrand evaluated in float32 torch arithmetic, and so does
// this class (QUADPACK's 21-point Gauss-Kronrod rule, exact for these cubic-or-lower polynomials up to the
// float32 evaluation).
#pragma once

#include <vector>

#include "afa/schedulers/sigma_scheduler.h"

namespace afa::schedulers {

class LMSDiscreteScheduler : public SigmaScheduler {
 public:
  explicit LMSDiscreteScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "lms"; }

  // The coefficient of the derivative `current_order` steps back, for a step from sigmas[t] to sigmas[t+1].
  double lms_coefficient(int64_t order, int64_t t, int64_t current_order) const;

  int64_t order = 4;  // diffusers' step(order=4)

 private:
  std::vector<float> sigmas_f_;
  std::vector<torch::Tensor> derivatives_;
  int64_t next_step_ = 0;
};

}  // namespace afa::schedulers
