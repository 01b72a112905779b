#include "afa/schedulers/euler.h"

#include <torch/torch.h>

#include <cmath>

#include "afa/util/error.h"

namespace afa::schedulers {

EulerDiscreteScheduler::EulerDiscreteScheduler(const SchedulerConfig& cfg)
    : SigmaScheduler(cfg, "EulerDiscreteScheduler") {}

void EulerDiscreteScheduler::set_timesteps(int64_t n) {
  set_grid(make_sigma_grid(cfg_, sched_.alphas_cumprod, n, cfg_.interpolation_type, cfg_.use_karras_sigmas,
                           "EulerDiscreteScheduler"));
}

torch::Tensor EulerDiscreteScheduler::step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample_in,
                                           c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  check_step_index(i, num_steps(), name());
  torch::Tensor sigma = sigmas_[i];
  const float sigma_f = sigma.item<float>();
  double gamma = 0.0;
  if (static_cast<float>(s_tmin) <= sigma_f && sigma_f <= static_cast<float>(s_tmax))
    gamma = std::min(s_churn / static_cast<double>(sigmas_.size(0) - 1), std::pow(2.0, 0.5) - 1);
  // diffusers draws this noise on every step, churn or not, so a shared generator advances the same way.
  torch::Tensor noise;
  if (gamma > 0 || (generator.has_value() && generator->defined())) noise = randn_like_diffusers(model_output, generator);
  torch::Tensor sample = sample_in;
  torch::Tensor sigma_hat = sigma * (gamma + 1);
  if (gamma > 0) {
    torch::Tensor eps = noise * s_noise;
    sample = sample + eps * (sigma_hat.pow(2) - sigma.pow(2)).pow(0.5);
  }
  // 1. x0 from the sigma-scaled prediction
  torch::Tensor pred_original_sample;
  if (cfg_.prediction_type == "sample") {
    pred_original_sample = model_output;
  } else if (cfg_.prediction_type == "epsilon") {
    pred_original_sample = sample - sigma_hat * model_output;
  } else {  // v_prediction: c_out * model_output + c_skip * input
    pred_original_sample = model_output * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + (sample / (sigma.pow(2) + 1));
  }
  // 2. ODE derivative, 3. Euler step to the next sigma
  torch::Tensor derivative = (sample - pred_original_sample) / sigma_hat;
  torch::Tensor dt = sigmas_[i + 1] - sigma_hat;
  return sample + derivative * dt;
}

}  // namespace afa::schedulers
