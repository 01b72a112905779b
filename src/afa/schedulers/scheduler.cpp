#include "afa/schedulers/scheduler.h"

#include <torch/torch.h>

#include <cmath>

#include "afa/schedulers/numpy_compat.h"
#include "afa/util/error.h"

namespace afa::schedulers {

torch::Tensor Scheduler::timestep(int64_t step_index) const {
  check_step_index(step_index, num_steps(), name());
  return timesteps()[step_index];
}

torch::Tensor betas_for_alpha_bar(int64_t num_diffusion_timesteps, double max_beta) {
  auto alpha_bar = [](double t) {
    const double c = std::cos((t + 0.008) / 1.008 * M_PI / 2);
    return c * c;
  };
  std::vector<double> betas(static_cast<size_t>(num_diffusion_timesteps));
  for (int64_t i = 0; i < num_diffusion_timesteps; ++i) {
    const double t1 = static_cast<double>(i) / static_cast<double>(num_diffusion_timesteps);
    const double t2 = static_cast<double>(i + 1) / static_cast<double>(num_diffusion_timesteps);
    betas[i] = std::min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta);
  }
  // torch.tensor(list_of_floats, dtype=float32) rounds each double once.
  return torch::tensor(betas, torch::kFloat64).to(torch::kFloat32);
}

torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas) {
  torch::Tensor alphas = torch::rsub(betas, 1.0);
  torch::Tensor alphas_cumprod = torch::cumprod(alphas, 0);
  torch::Tensor alphas_bar_sqrt = alphas_cumprod.sqrt();
  torch::Tensor a0 = alphas_bar_sqrt[0].clone();
  torch::Tensor aT = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt -= aT;  // last timestep gets zero SNR
  alphas_bar_sqrt *= a0 / (a0 - aT);  // first timestep keeps its value
  torch::Tensor alphas_bar = alphas_bar_sqrt.pow(2);
  torch::Tensor a = alphas_bar.slice(0, 1) / alphas_bar.slice(0, 0, -1);
  a = torch::cat({alphas_bar.slice(0, 0, 1), a});
  return torch::rsub(a, 1);
}

BetaSchedule make_beta_schedule(const SchedulerConfig& cfg, const std::string& who, bool allow_sigmoid,
                                bool rescale_zero_snr) {
  cfg.validate();
  const int64_t n = cfg.num_train_timesteps;
  torch::NoGradGuard no_grad;
  BetaSchedule s;
  if (cfg.trained_betas) {
    s.betas = torch::tensor(*cfg.trained_betas, torch::kFloat64).to(torch::kFloat32);
  } else if (cfg.beta_schedule == "linear") {
    s.betas = torch::linspace(cfg.beta_start, cfg.beta_end, n, torch::kFloat32);
  } else if (cfg.beta_schedule == "scaled_linear") {
    // Specific to the latent diffusion model: linear in sqrt(beta).
    s.betas = torch::linspace(std::pow(cfg.beta_start, 0.5), std::pow(cfg.beta_end, 0.5), n, torch::kFloat32).pow(2);
  } else if (cfg.beta_schedule == "squaredcos_cap_v2") {
    s.betas = betas_for_alpha_bar(n);  // Glide cosine schedule
  } else if (cfg.beta_schedule == "sigmoid" && allow_sigmoid) {
    s.betas = torch::sigmoid(torch::linspace(-6, 6, n, torch::kFloat32)) * (cfg.beta_end - cfg.beta_start) + cfg.beta_start;
  } else {
    fail(who, ": beta_schedule '", cfg.beta_schedule, "' is not implemented for this scheduler");
  }
  if (rescale_zero_snr) s.betas = rescale_zero_terminal_snr(s.betas);
  s.alphas = torch::rsub(s.betas, 1.0);
  s.alphas_cumprod = torch::cumprod(s.alphas, 0);
  return s;
}

torch::Tensor threshold_sample(const torch::Tensor& sample, double ratio, double max_value) {
  const auto dtype = sample.scalar_type();
  torch::Tensor x = sample;
  // quantile and clamp are not implemented for half on CPU, so upcast.
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) x = x.to(torch::kFloat32);
  const auto sizes = sample.sizes().vec();
  AFA_CHECK(sizes.size() >= 2, "threshold_sample: expected [batch, channels, ...], got ", sample.sizes());
  x = x.reshape({sizes[0], -1});
  torch::Tensor abs_x = x.abs();
  torch::Tensor s = torch::quantile(abs_x, ratio, 1);
  // At least 1 (plain clipping to [-1, 1]), at most sample_max_value.
  s = torch::clamp(s, 1, max_value).unsqueeze(1);
  x = torch::clamp(x, -s, s) / s;
  return x.reshape(sizes).to(dtype);
}

torch::Tensor add_noise(const torch::Tensor& alphas_cumprod, const torch::Tensor& original_samples,
                        const torch::Tensor& noise, const torch::Tensor& timesteps) {
  AFA_CHECK(original_samples.sizes() == noise.sizes(), "add_noise: sample shape ", original_samples.sizes(),
            " != noise shape ", noise.sizes());
  AFA_CHECK(timesteps.scalar_type() == torch::kLong || timesteps.scalar_type() == torch::kInt,
            "add_noise: timesteps must be integer, got ", timesteps.scalar_type());
  const int64_t n = alphas_cumprod.size(0);
  if (timesteps.numel() > 0) {
    AFA_CHECK(timesteps.min().item<int64_t>() >= 0 && timesteps.max().item<int64_t>() < n,
              "add_noise: timesteps must lie in [0, ", n, ")");
  }
  torch::Tensor ac = alphas_cumprod.to(original_samples.device(), original_samples.scalar_type());
  torch::Tensor t = timesteps.to(original_samples.device()).to(torch::kLong);
  torch::Tensor sel = ac.index({t});
  torch::Tensor sqrt_alpha_prod = sel.pow(0.5).flatten();
  while (sqrt_alpha_prod.dim() < original_samples.dim()) sqrt_alpha_prod = sqrt_alpha_prod.unsqueeze(-1);
  torch::Tensor sqrt_one_minus_alpha_prod = torch::rsub(sel, 1).pow(0.5).flatten();
  while (sqrt_one_minus_alpha_prod.dim() < original_samples.dim())
    sqrt_one_minus_alpha_prod = sqrt_one_minus_alpha_prod.unsqueeze(-1);
  return sqrt_alpha_prod * original_samples + sqrt_one_minus_alpha_prod * noise;
}

torch::Tensor randn_like_diffusers(const torch::Tensor& like, c10::optional<at::Generator> generator) {
  const auto opts = torch::TensorOptions().dtype(like.scalar_type());
  if (generator.has_value() && generator->defined()) {
    const c10::Device gen_device = generator->device();
    torch::Tensor noise = torch::randn(like.sizes(), generator, opts.device(gen_device));
    return noise.to(like.device());
  }
  return torch::randn(like.sizes(), opts.device(like.device()));
}

std::string resolved_spacing(const SchedulerConfig& cfg, const char* class_default) {
  return cfg.timestep_spacing ? *cfg.timestep_spacing : std::string(class_default);
}

torch::Tensor spaced_timesteps(const SchedulerConfig& cfg, const std::string& spacing, int64_t n,
                               const std::string& who) {
  const int64_t T = cfg.num_train_timesteps;
  AFA_CHECK(n >= 1 && n <= T, who, ": num_inference_steps must lie in [1, ", T, "], got ", n);
  std::vector<int64_t> ts;
  if (spacing == "linspace") {
    auto v = np::round(np::linspace(0, static_cast<double>(T - 1), n));
    for (auto it = v.rbegin(); it != v.rend(); ++it) ts.push_back(static_cast<int64_t>(*it));
  } else if (spacing == "leading") {
    // Integer multiples of T // n, shifted by steps_offset (SD 1.5: 1).
    const int64_t ratio = T / n;
    for (int64_t i = n - 1; i >= 0; --i) ts.push_back(i * ratio + cfg.steps_offset);
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double v : np::round(np::arange(static_cast<double>(T), 0, -ratio))) ts.push_back(static_cast<int64_t>(v) - 1);
  }
  return torch::tensor(ts, torch::kLong);
}

void check_step_index(int64_t step_index, int64_t n, const std::string& who) {
  AFA_CHECK(n > 0, who, ": call set_timesteps before stepping");
  AFA_CHECK(step_index >= 0 && step_index < n, who, ": step index ", step_index, " out of range [0, ", n, ")");
}

}  // namespace afa::schedulers
