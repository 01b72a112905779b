#include "afa/schedulers/euler.h"

#include <torch/torch.h>

#include <cmath>

#include "afa/schedulers/numpy_compat.h"
#include "afa/util/error.h"

namespace afa::schedulers {

SigmaGrid make_sigma_grid(const SchedulerConfig& cfg, const torch::Tensor& alphas_cumprod, int64_t n,
                          const std::string& interpolation, bool use_karras_sigmas, const std::string& who) {
  const int64_t T = cfg.num_train_timesteps;
  AFA_CHECK(n >= 1 && n <= T, who, ": num_inference_steps must lie in [1, ", T, "], got ", n);
  const std::string spacing = resolved_spacing(cfg, "linspace");
  std::vector<double> ts;
  if (spacing == "linspace") {
    auto v = np::linspace(0, static_cast<double>(T - 1), n);
    ts.assign(v.rbegin(), v.rend());
  } else if (spacing == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(static_cast<double>(i * ratio) + static_cast<double>(cfg.steps_offset));
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double v : np::round(np::arange(static_cast<double>(T), 0, -ratio))) ts.push_back(v - 1);
  }

  // The training sigmas sqrt((1 - ac) / ac), computed in float32 by torch, then used as a numpy array.
  torch::Tensor full = (torch::rsub(alphas_cumprod, 1) / alphas_cumprod).pow(0.5).contiguous();
  const float* fs = full.data_ptr<float>();
  std::vector<double> full_d(fs, fs + T);
  std::vector<float> log_sigmas(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) log_sigmas[i] = std::log(fs[i]);

  std::vector<double> sigmas;
  if (interpolation == "linear") {
    std::vector<double> xp(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) xp[i] = static_cast<double>(i);
    sigmas = np::interp(ts, xp, full_d);
  } else if (interpolation == "log_linear") {
    // diffusers builds n + 1 log-spaced float32 sigmas here (and then appends 0): kept as is.
    torch::Tensor s = torch::linspace(static_cast<double>(std::log(fs[T - 1])), static_cast<double>(std::log(fs[0])), n + 1,
                                      torch::kFloat32)
                          .exp()
                          .contiguous();
    const float* p = s.data_ptr<float>();
    sigmas.assign(p, p + n + 1);
  } else {
    fail(who, ": interpolation_type '", interpolation, "' is not supported (linear, log_linear)");
  }
  if (use_karras_sigmas) {
    sigmas = np::karras_sigmas(sigmas.back(), sigmas.front(), n);
    ts.clear();
    for (double s : sigmas) ts.push_back(np::sigma_to_t(s, log_sigmas));
  }
  sigmas.push_back(0.0);
  SigmaGrid g;
  g.timesteps = torch::tensor(ts, torch::kFloat64);
  g.sigmas = torch::tensor(sigmas, torch::kFloat64).to(torch::kFloat32);
  return g;
}

double sigma_init_noise(const torch::Tensor& sigmas, const std::string& spacing) {
  torch::Tensor m = sigmas.max();
  if (spacing == "linspace" || spacing == "trailing") return m.item<double>();
  return (m.pow(2) + 1).pow(0.5).item<double>();
}

torch::Tensor sigma_scale_input(const torch::Tensor& sample, const torch::Tensor& sigma) {
  // Scale so that the U-Net sees unit-variance input (the k-diffusion c_in).
  return sample / (sigma.pow(2) + 1).pow(0.5);
}

EulerDiscreteScheduler::EulerDiscreteScheduler(const SchedulerConfig& cfg)
    : cfg_(cfg), spacing_(resolved_spacing(cfg, "linspace")), sched_(make_beta_schedule(cfg, "EulerDiscreteScheduler")) {}

void EulerDiscreteScheduler::set_timesteps(int64_t n) {
  SigmaGrid g = make_sigma_grid(cfg_, sched_.alphas_cumprod, n, cfg_.interpolation_type, cfg_.use_karras_sigmas,
                                "EulerDiscreteScheduler");
  timesteps_ = g.timesteps;
  sigmas_ = g.sigmas;
}

double EulerDiscreteScheduler::init_noise_sigma() const {
  AFA_CHECK(sigmas_.defined(), "EulerDiscreteScheduler: call set_timesteps first");
  return sigma_init_noise(sigmas_, spacing_);
}

torch::Tensor EulerDiscreteScheduler::scale_model_input(const torch::Tensor& sample, int64_t i) {
  check_step_index(i, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  return sigma_scale_input(sample, sigmas_[i]);
}

torch::Tensor EulerDiscreteScheduler::step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample_in,
                                           c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  check_step_index(i, timesteps_.defined() ? timesteps_.size(0) : 0, name());
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
