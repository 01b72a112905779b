#include "afa/schedulers/dpm_solver_multistep.h"

#include <torch/torch.h>

#include <algorithm>
#include <set>

#include "afa/schedulers/numpy_compat.h"
#include "afa/util/error.h"

namespace afa::schedulers {

DPMSolverMultistepScheduler::DPMSolverMultistepScheduler(const SchedulerConfig& cfg)
    : cfg_(cfg),
      spacing_(resolved_spacing(cfg, "linspace")),
      algorithm_type_(cfg.algorithm_type == "deis" ? "dpmsolver++" : cfg.algorithm_type),
      solver_type_(cfg.solver_type == "heun" ? "heun" : "midpoint"),  // logrho/bh1/bh2 map to midpoint
      order_(cfg.solver_order),
      sched_(make_beta_schedule(cfg, "DPMSolverMultistepScheduler")) {
  AFA_CHECK(!(order_ == 3 && (algorithm_type_ == "sde-dpmsolver" || algorithm_type_ == "sde-dpmsolver++")),
            "DPMSolverMultistepScheduler: third-order SDE solvers are not implemented (diffusers has none either)");
  // VP-type noise schedule: x_t = alpha_t x0 + sigma_t eps, lambda_t = log(alpha_t / sigma_t).
  alpha_t_ = sched_.alphas_cumprod.sqrt();
  sigma_t_ = torch::rsub(sched_.alphas_cumprod, 1).sqrt();
  lambda_t_ = alpha_t_.log() - sigma_t_.log();
  model_outputs_.assign(static_cast<size_t>(order_), torch::Tensor());
}

void DPMSolverMultistepScheduler::set_timesteps(int64_t n) {
  const int64_t T = cfg_.num_train_timesteps;
  AFA_CHECK(n >= 1 && n <= T, "DPMSolverMultistepScheduler: num_inference_steps must lie in [1, ", T, "], got ", n);
  // Clip the smallest lambdas (cosine schedules blow up near t = T): searchsorted(flip(lambda_t), min).
  int64_t clipped_idx = 0;
  {
    torch::Tensor flipped = lambda_t_.flip({0}).to(torch::kFloat64);
    const double* p = flipped.data_ptr<double>();
    while (clipped_idx < T && p[clipped_idx] < cfg_.lambda_min_clipped) ++clipped_idx;
  }
  const int64_t last_timestep = T - clipped_idx;
  std::vector<int64_t> ts;
  if (spacing_ == "linspace") {
    auto v = np::round(np::linspace(0, static_cast<double>(last_timestep - 1), n + 1));
    for (size_t i = v.size() - 1; i >= 1; --i) ts.push_back(static_cast<int64_t>(v[i]));  // [::-1][:-1]
  } else if (spacing_ == "leading") {
    const int64_t ratio = last_timestep / (n + 1);
    for (int64_t i = n; i >= 1; --i) ts.push_back(i * ratio + cfg_.steps_offset);
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    for (double v : np::round(np::arange(static_cast<double>(last_timestep), 0, -ratio)))
      ts.push_back(static_cast<int64_t>(v) - 1);
  }
  if (cfg_.use_karras_sigmas) {
    // sigmas ascending in t (float32); _convert_to_karras takes min = last, max = first, so the ramp ascends
    // and the rounded timesteps are flipped afterwards.
    torch::Tensor ac = sched_.alphas_cumprod;
    torch::Tensor sig = (torch::rsub(ac, 1) / ac).pow(0.5).contiguous();
    const float* s = sig.data_ptr<float>();
    std::vector<float> log_sigmas(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) log_sigmas[i] = std::log(s[i]);
    auto karras = np::karras_sigmas(static_cast<double>(s[T - 1]), static_cast<double>(s[0]), n);
    ts.clear();
    for (auto it = karras.rbegin(); it != karras.rend(); ++it)
      ts.push_back(static_cast<int64_t>(np::round(np::sigma_to_t(*it, log_sigmas))));
  }
  // Keep first occurrences only (duplicates appear when n is close to T).
  std::vector<int64_t> uniq;
  std::set<int64_t> seen;
  for (int64_t t : ts)
    if (seen.insert(t).second) uniq.push_back(t);
  for (int64_t t : uniq)
    AFA_CHECK(t >= 0 && t < T, "DPMSolverMultistepScheduler: timestep ", t, " out of range; check steps_offset");
  timesteps_ = torch::tensor(uniq, torch::kLong);
  model_outputs_.assign(static_cast<size_t>(order_), torch::Tensor());
  lower_order_nums_ = 0;
  next_step_ = 0;
}

torch::Tensor DPMSolverMultistepScheduler::scale_model_input(const torch::Tensor& sample, int64_t step_index) {
  check_step_index(step_index, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  return sample;
}

torch::Tensor DPMSolverMultistepScheduler::convert_model_output(const torch::Tensor& model_output_in, int64_t t,
                                                                const torch::Tensor& sample) const {
  torch::Tensor model_output = model_output_in;
  const bool learned = cfg_.variance_type && (*cfg_.variance_type == "learned" || *cfg_.variance_type == "learned_range");
  const std::string& pred = cfg_.prediction_type;
  if (algorithm_type_ == "dpmsolver++" || algorithm_type_ == "sde-dpmsolver++") {
    // DPM-Solver++ works on the data prediction x0.
    torch::Tensor x0_pred;
    if (pred == "epsilon") {
      if (learned) model_output = model_output.slice(1, 0, 3);  // as diffusers: the first 3 channels
      x0_pred = (sample - sigma_t_[t] * model_output) / alpha_t_[t];
    } else if (pred == "sample") {
      x0_pred = model_output;
    } else {
      x0_pred = alpha_t_[t] * sample - sigma_t_[t] * model_output;
    }
    if (cfg_.thresholding) x0_pred = threshold_sample(x0_pred, cfg_.dynamic_thresholding_ratio, cfg_.sample_max_value);
    return x0_pred;
  }
  // DPM-Solver works on the noise prediction.
  if (pred == "epsilon") {
    if (learned) model_output = model_output.slice(1, 0, 3);
    return model_output;
  }
  if (pred == "sample") return (sample - alpha_t_[t] * model_output) / sigma_t_[t];
  return alpha_t_[t] * model_output + sigma_t_[t] * sample;
}

torch::Tensor DPMSolverMultistepScheduler::first_order_update(const torch::Tensor& m, int64_t s, int64_t t,
                                                              const torch::Tensor& sample,
                                                              const torch::Tensor& noise) const {
  // One step from s to t (equivalent to DDIM), formula (5) of the DPM-Solver++ paper.
  torch::Tensor lambda_t = lambda_t_[t], lambda_s = lambda_t_[s];
  torch::Tensor alpha_t = alpha_t_[t], alpha_s = alpha_t_[s];
  torch::Tensor sigma_t = sigma_t_[t], sigma_s = sigma_t_[s];
  torch::Tensor h = lambda_t - lambda_s;
  if (algorithm_type_ == "dpmsolver++") return (sigma_t / sigma_s) * sample - (alpha_t * ((-h).exp() - 1.0)) * m;
  if (algorithm_type_ == "dpmsolver") return (alpha_t / alpha_s) * sample - (sigma_t * (h.exp() - 1.0)) * m;
  if (algorithm_type_ == "sde-dpmsolver++")
    return (sigma_t / sigma_s * (-h).exp()) * sample + (alpha_t * torch::rsub((h * -2.0).exp(), 1)) * m +
           sigma_t * torch::rsub((h * -2).exp(), 1.0).sqrt() * noise;
  // sde-dpmsolver
  return (alpha_t / alpha_s) * sample - (sigma_t * (h.exp() - 1.0)) * 2.0 * m +
         sigma_t * ((h * 2).exp() - 1.0).sqrt() * noise;
}

torch::Tensor DPMSolverMultistepScheduler::second_order_update(int64_t s1, int64_t s0, int64_t t,
                                                               const torch::Tensor& sample,
                                                               const torch::Tensor& noise) const {
  const torch::Tensor& m0 = model_outputs_[order_ - 1];
  const torch::Tensor& m1 = model_outputs_[order_ - 2];
  torch::Tensor lambda_t = lambda_t_[t], lambda_s0 = lambda_t_[s0], lambda_s1 = lambda_t_[s1];
  torch::Tensor alpha_t = alpha_t_[t], alpha_s0 = alpha_t_[s0];
  torch::Tensor sigma_t = sigma_t_[t], sigma_s0 = sigma_t_[s0];
  torch::Tensor h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1;
  torch::Tensor r0 = h_0 / h;
  const torch::Tensor& D0 = m0;
  torch::Tensor D1 = (r0.reciprocal() * 1.0) * (m0 - m1);  // Python's 1.0 / r0 is reciprocal() * 1.0
  const bool midpoint = solver_type_ == "midpoint";
  if (algorithm_type_ == "dpmsolver++") {
    torch::Tensor c = alpha_t * ((-h).exp() - 1.0);
    if (midpoint) return (sigma_t / sigma_s0) * sample - c * D0 - (alpha_t * ((-h).exp() - 1.0)) * 0.5 * D1;
    return (sigma_t / sigma_s0) * sample - c * D0 + (alpha_t * (((-h).exp() - 1.0) / h + 1.0)) * D1;
  }
  if (algorithm_type_ == "dpmsolver") {
    torch::Tensor c = sigma_t * (h.exp() - 1.0);
    if (midpoint) return (alpha_t / alpha_s0) * sample - c * D0 - (sigma_t * (h.exp() - 1.0)) * 0.5 * D1;
    return (alpha_t / alpha_s0) * sample - c * D0 - (sigma_t * ((h.exp() - 1.0) / h - 1.0)) * D1;
  }
  if (algorithm_type_ == "sde-dpmsolver++") {
    torch::Tensor a = alpha_t * torch::rsub((h * -2.0).exp(), 1);
    torch::Tensor noise_term = sigma_t * torch::rsub((h * -2.0).exp(), 1.0).sqrt() * noise;
    if (midpoint)
      return (sigma_t / sigma_s0 * (-h).exp()) * sample + a * D0 +
             (alpha_t * torch::rsub((h * -2.0).exp(), 1)) * 0.5 * D1 + noise_term;
    return (sigma_t / sigma_s0 * (-h).exp()) * sample + a * D0 +
           (alpha_t * (torch::rsub((h * -2.0).exp(), 1.0) / (h * -2.0) + 1.0)) * D1 + noise_term;
  }
  // sde-dpmsolver
  torch::Tensor noise_term = sigma_t * ((h * 2).exp() - 1.0).sqrt() * noise;
  if (midpoint)
    return (alpha_t / alpha_s0) * sample - (sigma_t * (h.exp() - 1.0)) * 2.0 * D0 - (sigma_t * (h.exp() - 1.0)) * D1 +
           noise_term;
  return (alpha_t / alpha_s0) * sample - (sigma_t * (h.exp() - 1.0)) * 2.0 * D0 -
         (sigma_t * ((h.exp() - 1.0) / h - 1.0)) * 2.0 * D1 + noise_term;
}

torch::Tensor DPMSolverMultistepScheduler::third_order_update(int64_t s2, int64_t s1, int64_t s0, int64_t t,
                                                              const torch::Tensor& sample) const {
  const torch::Tensor& m0 = model_outputs_[order_ - 1];
  const torch::Tensor& m1 = model_outputs_[order_ - 2];
  const torch::Tensor& m2 = model_outputs_[order_ - 3];
  torch::Tensor lambda_t = lambda_t_[t], lambda_s0 = lambda_t_[s0], lambda_s1 = lambda_t_[s1], lambda_s2 = lambda_t_[s2];
  torch::Tensor alpha_t = alpha_t_[t], alpha_s0 = alpha_t_[s0];
  torch::Tensor sigma_t = sigma_t_[t], sigma_s0 = sigma_t_[s0];
  torch::Tensor h = lambda_t - lambda_s0, h_0 = lambda_s0 - lambda_s1, h_1 = lambda_s1 - lambda_s2;
  torch::Tensor r0 = h_0 / h, r1 = h_1 / h;
  const torch::Tensor& D0 = m0;
  torch::Tensor D1_0 = (r0.reciprocal() * 1.0) * (m0 - m1);
  torch::Tensor D1_1 = (r1.reciprocal() * 1.0) * (m1 - m2);
  torch::Tensor D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
  torch::Tensor D2 = ((r0 + r1).reciprocal() * 1.0) * (D1_0 - D1_1);
  if (algorithm_type_ == "dpmsolver++") {
    return (sigma_t / sigma_s0) * sample - (alpha_t * ((-h).exp() - 1.0)) * D0 +
           (alpha_t * (((-h).exp() - 1.0) / h + 1.0)) * D1 -
           (alpha_t * ((((-h).exp() - 1.0) + h) / h.pow(2) - 0.5)) * D2;
  }
  return (alpha_t / alpha_s0) * sample - (sigma_t * (h.exp() - 1.0)) * D0 -
         (sigma_t * ((h.exp() - 1.0) / h - 1.0)) * D1 - (sigma_t * (((h.exp() - 1.0) - h) / h.pow(2) - 0.5)) * D2;
}

torch::Tensor DPMSolverMultistepScheduler::step(const torch::Tensor& model_output_in, int64_t i,
                                                const torch::Tensor& sample, c10::optional<at::Generator> generator) {
  torch::NoGradGuard no_grad;
  const int64_t n = timesteps_.defined() ? timesteps_.size(0) : 0;
  check_step_index(i, n, name());
  AFA_CHECK(i == next_step_, "DPMSolverMultistepScheduler: steps must be taken in order; expected step ", next_step_,
            ", got ", i);
  const int64_t t = timesteps_[i].item<int64_t>();
  const int64_t prev_t = i == n - 1 ? 0 : timesteps_[i + 1].item<int64_t>();
  // Few steps: finish with lower orders, which is more stable.
  const bool lower_order_final = i == n - 1 && cfg_.lower_order_final && n < 15;
  const bool lower_order_second = i == n - 2 && cfg_.lower_order_final && n < 15;

  torch::Tensor m = convert_model_output(model_output_in, t, sample);
  for (int64_t k = 0; k + 1 < order_; ++k) model_outputs_[k] = model_outputs_[k + 1];
  model_outputs_[order_ - 1] = m;

  torch::Tensor noise;
  if (algorithm_type_ == "sde-dpmsolver" || algorithm_type_ == "sde-dpmsolver++")
    noise = randn_like_diffusers(m, generator);

  torch::Tensor prev_sample;
  if (order_ == 1 || lower_order_nums_ < 1 || lower_order_final) {
    prev_sample = first_order_update(m, t, prev_t, sample, noise);
  } else if (order_ == 2 || lower_order_nums_ < 2 || lower_order_second) {
    prev_sample = second_order_update(timesteps_[i - 1].item<int64_t>(), t, prev_t, sample, noise);
  } else {
    prev_sample = third_order_update(timesteps_[i - 2].item<int64_t>(), timesteps_[i - 1].item<int64_t>(), t, prev_t,
                                     sample);
  }
  if (lower_order_nums_ < order_) lower_order_nums_ += 1;
  next_step_ = i + 1;
  return prev_sample;
}

}  // namespace afa::schedulers
