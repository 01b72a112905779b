#include "afa/schedulers/ddim.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::schedulers {

DDIMScheduler::DDIMScheduler(const SchedulerConfig& cfg)
    : cfg_(cfg),
      spacing_(resolved_spacing(cfg, "leading")),
      clip_sample_(cfg.clip_sample.value_or(true)),
      sched_(make_beta_schedule(cfg, "DDIMScheduler", false, cfg.rescale_betas_zero_snr)) {
  // The step to t < 0 uses alpha_cumprod = 1 (fully denoised) or, as SD 1.5 does, alphas_cumprod[0].
  final_alpha_cumprod_ = cfg.set_alpha_to_one.value_or(true) ? torch::tensor(1.0f) : sched_.alphas_cumprod[0];
}

void DDIMScheduler::set_timesteps(int64_t n) {
  timesteps_ = spaced_timesteps(cfg_, spacing_, n, "DDIMScheduler");
  num_inference_steps_ = n;
}

torch::Tensor DDIMScheduler::scale_model_input(const torch::Tensor& sample, int64_t step_index) {
  check_step_index(step_index, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  return sample;
}

torch::Tensor DDIMScheduler::variance(const torch::Tensor& alpha_prod_t, const torch::Tensor& alpha_prod_t_prev) const {
  torch::Tensor beta_prod_t = torch::rsub(alpha_prod_t, 1);
  torch::Tensor beta_prod_t_prev = torch::rsub(alpha_prod_t_prev, 1);
  return (beta_prod_t_prev / beta_prod_t) * torch::rsub(alpha_prod_t / alpha_prod_t_prev, 1);
}

torch::Tensor DDIMScheduler::step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                                  c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  check_step_index(step_index, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  const int64_t t = timesteps_[step_index].item<int64_t>();
  // 1. previous step (= t - T // n, also for the other spacings, as diffusers does)
  const int64_t prev_t = t - cfg_.num_train_timesteps / num_inference_steps_;
  // 2. alphas and betas
  const torch::Tensor& ac = sched_.alphas_cumprod;
  torch::Tensor alpha_prod_t = ac[t];
  torch::Tensor alpha_prod_t_prev = prev_t >= 0 ? ac[prev_t] : final_alpha_cumprod_;
  torch::Tensor beta_prod_t = torch::rsub(alpha_prod_t, 1);
  // 3. predicted x0 and epsilon, formula (12) of the paper
  torch::Tensor pred_original_sample, pred_epsilon;
  if (cfg_.prediction_type == "epsilon") {
    pred_original_sample = (sample - beta_prod_t.pow(0.5) * model_output) / alpha_prod_t.pow(0.5);
    pred_epsilon = model_output;
  } else if (cfg_.prediction_type == "sample") {
    pred_original_sample = model_output;
    pred_epsilon = (sample - alpha_prod_t.pow(0.5) * pred_original_sample) / beta_prod_t.pow(0.5);
  } else {  // v_prediction
    pred_original_sample = alpha_prod_t.pow(0.5) * sample - beta_prod_t.pow(0.5) * model_output;
    pred_epsilon = alpha_prod_t.pow(0.5) * model_output + beta_prod_t.pow(0.5) * sample;
  }
  // 4. clip or threshold x0
  if (cfg_.thresholding) {
    pred_original_sample = threshold_sample(pred_original_sample, cfg_.dynamic_thresholding_ratio, cfg_.sample_max_value);
  } else if (clip_sample_) {
    pred_original_sample = pred_original_sample.clamp(-cfg_.clip_sample_range, cfg_.clip_sample_range);
  }
  // 5. sigma_t(eta), formula (16)
  torch::Tensor var = variance(alpha_prod_t, alpha_prod_t_prev);
  torch::Tensor std_dev_t = var.pow(0.5) * eta;
  if (use_clipped_model_output) {
    // Re-derive epsilon from the clipped x0 (as in Glide).
    pred_epsilon = (sample - alpha_prod_t.pow(0.5) * pred_original_sample) / beta_prod_t.pow(0.5);
  }
  // 6. direction pointing to x_t, formula (12)
  torch::Tensor pred_sample_direction = (torch::rsub(alpha_prod_t_prev, 1) - std_dev_t.pow(2)).pow(0.5) * pred_epsilon;
  // 7. x_{t-1} without the random noise, formula (12)
  torch::Tensor prev_sample = alpha_prod_t_prev.pow(0.5) * pred_original_sample + pred_sample_direction;
  if (eta > 0) {
    torch::Tensor variance_noise = randn_like_diffusers(model_output, generator);
    prev_sample = prev_sample + std_dev_t * variance_noise;
  }
  return prev_sample;
}

torch::Tensor DDIMScheduler::add_noise(const torch::Tensor& x0, const torch::Tensor& noise,
                                       const torch::Tensor& timesteps) const {
  return schedulers::add_noise(sched_.alphas_cumprod, x0, noise, timesteps);
}

}  // namespace afa::schedulers
