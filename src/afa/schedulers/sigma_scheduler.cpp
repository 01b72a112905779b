#include "afa/schedulers/sigma_scheduler.h"

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

SigmaScheduler::SigmaScheduler(const SchedulerConfig& cfg, const std::string& who)
    : cfg_(cfg), spacing_(resolved_spacing(cfg, "linspace")), sched_(make_beta_schedule(cfg, who)) {}

void SigmaScheduler::set_grid(const SigmaGrid& g) {
  timesteps_ = g.timesteps;
  sigmas_ = g.sigmas.contiguous();
}

double SigmaScheduler::init_noise_sigma() const {
  AFA_CHECK(sigmas_.defined(), name(), ": call set_timesteps first");
  return sigma_init_noise(sigmas_, spacing_);
}

torch::Tensor SigmaScheduler::scale_model_input(const torch::Tensor& sample, int64_t i) {
  check_step_index(i, num_steps(), name());
  return sigma_scale_input(sample, sigmas_[i]);
}

}  // namespace afa::schedulers
