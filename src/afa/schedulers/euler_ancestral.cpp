#include "afa/schedulers/euler_ancestral.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::schedulers {

EulerAncestralDiscreteScheduler::EulerAncestralDiscreteScheduler(const SchedulerConfig& cfg)
    : SigmaScheduler(cfg, "EulerAncestralDiscreteScheduler") {
  AFA_CHECK(cfg.prediction_type != "sample",
            "EulerAncestralDiscreteScheduler: prediction_type 'sample' is not implemented (diffusers has none either)");
}

void EulerAncestralDiscreteScheduler::set_timesteps(int64_t n) {
  // No interpolation_type / Karras options in this class in diffusers v0.20.2.
  set_grid(make_sigma_grid(cfg_, sched_.alphas_cumprod, n, "linear", false, "EulerAncestralDiscreteScheduler"));
}

torch::Tensor EulerAncestralDiscreteScheduler::step(const torch::Tensor& model_output, int64_t i,
                                                    const torch::Tensor& sample,
                                                    c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  check_step_index(i, num_steps(), name());
  torch::Tensor sigma = sigmas_[i];
  // 1. x0 from the sigma-scaled prediction
  torch::Tensor pred_original_sample;
  if (cfg_.prediction_type == "epsilon") {
    pred_original_sample = sample - sigma * model_output;
  } else {  // v_prediction
    pred_original_sample = model_output * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + (sample / (sigma.pow(2) + 1));
  }
  // 2. split the step to sigma_to into a deterministic part down to sigma_down and fresh noise sigma_up
  torch::Tensor sigma_from = sigmas_[i];
  torch::Tensor sigma_to = sigmas_[i + 1];
  torch::Tensor sigma_up = (sigma_to.pow(2) * (sigma_from.pow(2) - sigma_to.pow(2)) / sigma_from.pow(2)).pow(0.5);
  torch::Tensor sigma_down = (sigma_to.pow(2) - sigma_up.pow(2)).pow(0.5);
  torch::Tensor derivative = (sample - pred_original_sample) / sigma;
  torch::Tensor dt = sigma_down - sigma;
  torch::Tensor prev_sample = sample + derivative * dt;
  torch::Tensor noise = randn_like_diffusers(model_output, generator);
  return prev_sample + noise * sigma_up;
}

}  // namespace afa::schedulers
