#include "afa/schedulers/ddpm.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::schedulers {

DDPMScheduler::DDPMScheduler(const SchedulerConfig& cfg)
    : cfg_(cfg),
      spacing_(resolved_spacing(cfg, "leading")),
      variance_type_(cfg.variance_type.value_or("fixed_small")),
      clip_sample_(cfg.clip_sample.value_or(true)),
      sched_(make_beta_schedule(cfg, "DDPMScheduler", /*allow_sigmoid=*/true)) {
  one_ = torch::tensor(1.0f);
  timesteps_ = torch::arange(cfg.num_train_timesteps - 1, -1, -1, torch::kLong);
}

void DDPMScheduler::set_timesteps(int64_t n) {
  timesteps_ = spaced_timesteps(cfg_, spacing_, n, "DDPMScheduler");
  num_inference_steps_ = n;
}

torch::Tensor DDPMScheduler::scale_model_input(const torch::Tensor& sample, int64_t step_index) {
  check_step_index(step_index, timesteps_.size(0), name());
  return sample;
}

int64_t DDPMScheduler::previous_timestep(int64_t t) const {
  const int64_t n = num_inference_steps_ > 0 ? num_inference_steps_ : cfg_.num_train_timesteps;
  return t - cfg_.num_train_timesteps / n;
}

torch::Tensor DDPMScheduler::get_variance(int64_t t, const torch::Tensor& predicted_variance) const {
  const int64_t prev_t = previous_timestep(t);
  torch::Tensor alpha_prod_t = sched_.alphas_cumprod[t];
  torch::Tensor alpha_prod_t_prev = prev_t >= 0 ? sched_.alphas_cumprod[prev_t] : one_;
  torch::Tensor current_beta_t = torch::rsub(alpha_prod_t / alpha_prod_t_prev, 1);
  // Posterior variance beta~_t, formulas (6) and (7); clamped because some variants take its log.
  torch::Tensor variance = torch::rsub(alpha_prod_t_prev, 1) / torch::rsub(alpha_prod_t, 1) * current_beta_t;
  variance = torch::clamp(variance, 1e-20);
  if (variance_type_ == "fixed_small") return variance;
  if (variance_type_ == "fixed_small_log") return torch::exp(torch::log(variance) * 0.5);  // rl-diffuser
  if (variance_type_ == "fixed_large") return current_beta_t;
  if (variance_type_ == "fixed_large_log") return torch::log(current_beta_t);  // Glide max_log
  if (variance_type_ == "learned") return predicted_variance;
  // learned_range: interpolate in log space between beta~_t and beta_t
  torch::Tensor min_log = torch::log(variance);
  torch::Tensor max_log = torch::log(sched_.betas[t]);
  torch::Tensor frac = (predicted_variance + 1) / 2;
  return frac * max_log + torch::rsub(frac, 1) * min_log;
}

torch::Tensor DDPMScheduler::step(const torch::Tensor& model_output_in, int64_t i, const torch::Tensor& sample,
                                  c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  check_step_index(i, timesteps_.size(0), name());
  const int64_t t = timesteps_[i].item<int64_t>();
  const int64_t prev_t = previous_timestep(t);
  torch::Tensor model_output = model_output_in, predicted_variance;
  if (model_output.dim() >= 2 && sample.dim() >= 2 && model_output.size(1) == sample.size(1) * 2 &&
      (variance_type_ == "learned" || variance_type_ == "learned_range")) {
    auto parts = torch::split(model_output_in, sample.size(1), 1);
    model_output = parts[0];
    predicted_variance = parts[1];
  }
  AFA_CHECK(!(variance_type_ == "learned" || variance_type_ == "learned_range") || predicted_variance.defined(),
            "DDPMScheduler: variance_type '", variance_type_, "' needs a model output with 2x the sample's channels");
  // 1. alphas, betas
  torch::Tensor alpha_prod_t = sched_.alphas_cumprod[t];
  torch::Tensor alpha_prod_t_prev = prev_t >= 0 ? sched_.alphas_cumprod[prev_t] : one_;
  torch::Tensor beta_prod_t = torch::rsub(alpha_prod_t, 1);
  torch::Tensor beta_prod_t_prev = torch::rsub(alpha_prod_t_prev, 1);
  torch::Tensor current_alpha_t = alpha_prod_t / alpha_prod_t_prev;
  torch::Tensor current_beta_t = torch::rsub(current_alpha_t, 1);
  // 2. predicted x0, formula (15)
  torch::Tensor pred_original_sample;
  if (cfg_.prediction_type == "epsilon") {
    pred_original_sample = (sample - beta_prod_t.pow(0.5) * model_output) / alpha_prod_t.pow(0.5);
  } else if (cfg_.prediction_type == "sample") {
    pred_original_sample = model_output;
  } else {
    pred_original_sample = alpha_prod_t.pow(0.5) * sample - beta_prod_t.pow(0.5) * model_output;
  }
  // 3. clip or threshold x0
  if (cfg_.thresholding) {
    pred_original_sample = threshold_sample(pred_original_sample, cfg_.dynamic_thresholding_ratio, cfg_.sample_max_value);
  } else if (clip_sample_) {
    pred_original_sample = pred_original_sample.clamp(-cfg_.clip_sample_range, cfg_.clip_sample_range);
  }
  // 4. posterior mean coefficients, formula (7)
  torch::Tensor pred_original_sample_coeff = (alpha_prod_t_prev.pow(0.5) * current_beta_t) / beta_prod_t;
  torch::Tensor current_sample_coeff = current_alpha_t.pow(0.5) * beta_prod_t_prev / beta_prod_t;
  // 5. posterior mean
  torch::Tensor pred_prev_sample = pred_original_sample_coeff * pred_original_sample + current_sample_coeff * sample;
  // 6. noise
  if (t > 0) {
    torch::Tensor variance_noise = randn_like_diffusers(model_output, generator);
    torch::Tensor variance;
    if (variance_type_ == "fixed_small_log") {
      variance = get_variance(t, predicted_variance) * variance_noise;
    } else if (variance_type_ == "learned_range") {
      variance = torch::exp(get_variance(t, predicted_variance) * 0.5) * variance_noise;
    } else {
      variance = get_variance(t, predicted_variance).pow(0.5) * variance_noise;
    }
    pred_prev_sample = pred_prev_sample + variance;
  } else {
    pred_prev_sample = pred_prev_sample + 0;
  }
  return pred_prev_sample;
}

torch::Tensor DDPMScheduler::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                       const torch::Tensor& timesteps) const {
  return schedulers::add_noise(sched_.alphas_cumprod, original_samples, noise, timesteps);
}

}  // namespace afa::schedulers
