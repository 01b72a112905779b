#include "afa/schedulers/pndm.h"

#include <torch/torch.h>

#include "afa/schedulers/numpy_compat.h"
#include "afa/util/error.h"

namespace afa::schedulers {

PNDMScheduler::PNDMScheduler(const SchedulerConfig& cfg)
    : cfg_(cfg), spacing_(resolved_spacing(cfg, "leading")), sched_(make_beta_schedule(cfg, "PNDMScheduler")) {
  AFA_CHECK(cfg.prediction_type == "epsilon" || cfg.prediction_type == "v_prediction",
            "PNDMScheduler: prediction_type '", cfg.prediction_type, "' is not supported (epsilon or v_prediction)");
  final_alpha_cumprod_ = cfg.set_alpha_to_one.value_or(false) ? torch::tensor(1.0f) : sched_.alphas_cumprod[0];
}

void PNDMScheduler::set_timesteps(int64_t n) {
  const int64_t T = cfg_.num_train_timesteps;
  AFA_CHECK(n >= 1 && n <= T, "PNDMScheduler: num_inference_steps must lie in [1, ", T, "], got ", n);
  // The ascending base grid (diffusers' _timesteps).
  std::vector<int64_t> base;
  if (spacing_ == "linspace") {
    for (double v : np::round(np::linspace(0, static_cast<double>(T - 1), n))) base.push_back(static_cast<int64_t>(v));
  } else if (spacing_ == "leading") {
    const int64_t ratio = T / n;
    for (int64_t i = 0; i < n; ++i) base.push_back(i * ratio + cfg_.steps_offset);
  } else {  // trailing
    const double ratio = static_cast<double>(T) / static_cast<double>(n);
    auto v = np::round(np::arange(static_cast<double>(T), 0, -ratio));
    for (auto it = v.rbegin(); it != v.rend(); ++it) base.push_back(static_cast<int64_t>(*it) - 1);
  }
  const int64_t m = static_cast<int64_t>(base.size());
  std::vector<int64_t> plms;
  prk_timesteps_.clear();
  if (cfg_.skip_prk_steps) {
    // The first PLMS step is evaluated twice (a 2nd-order warm-up): base[:-1], base[-2], base[-1], reversed.
    std::vector<int64_t> fwd(base.begin(), base.end() - 1);
    if (m >= 2) fwd.push_back(base[m - 2]);
    fwd.push_back(base[m - 1]);
    plms.assign(fwd.rbegin(), fwd.rend());
  } else {
    // PRK: the last pndm_order grid points, each with a half-step midpoint, arranged as 4 evaluations per
    // Runge-Kutta step (t, t-h/2, t-h/2, t-h) for 3 steps.
    AFA_CHECK(m >= kPndmOrder, "PNDMScheduler: PRK warm-up needs at least ", kPndmOrder, " inference steps, got ", n);
    const int64_t half = T / n / 2;
    std::vector<int64_t> prk;
    for (int64_t i = m - kPndmOrder; i < m; ++i) {
      prk.push_back(base[i]);
      prk.push_back(base[i] + half);
    }
    prk.pop_back();  // prk[:-1]
    std::vector<int64_t> rep;
    for (int64_t v : prk) {
      rep.push_back(v);
      rep.push_back(v);
    }
    std::vector<int64_t> mid(rep.begin() + 1, rep.end() - 1);  // .repeat(2)[1:-1]
    prk_timesteps_.assign(mid.rbegin(), mid.rend());
    for (int64_t i = m - 4; i >= 0; --i) plms.push_back(base[i]);  // base[:-3][::-1]
  }
  std::vector<int64_t> all = prk_timesteps_;
  all.insert(all.end(), plms.begin(), plms.end());
  timesteps_ = torch::tensor(all, torch::kLong);
  num_inference_steps_ = n;
  counter_ = 0;
  ets_.clear();
  cur_model_output_ = torch::Tensor();
  cur_sample_ = torch::Tensor();
}

torch::Tensor PNDMScheduler::scale_model_input(const torch::Tensor& sample, int64_t step_index) {
  check_step_index(step_index, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  return sample;
}

torch::Tensor PNDMScheduler::step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                                  c10::optional<at::Generator>) {
  torch::NoGradGuard no_grad;
  check_step_index(step_index, timesteps_.defined() ? timesteps_.size(0) : 0, name());
  AFA_CHECK(step_index == counter_, "PNDMScheduler: steps must be taken in order; expected step ", counter_, ", got ",
            step_index);
  const int64_t t = timesteps_[step_index].item<int64_t>();
  if (counter_ < static_cast<int64_t>(prk_timesteps_.size()) && !cfg_.skip_prk_steps)
    return step_prk(model_output, t, sample);
  return step_plms(model_output, t, sample);
}

torch::Tensor PNDMScheduler::step_prk(const torch::Tensor& model_output_in, int64_t timestep,
                                      const torch::Tensor& sample) {
  const int64_t diff_to_prev = (counter_ % 2) ? 0 : cfg_.num_train_timesteps / num_inference_steps_ / 2;
  const int64_t prev_timestep = timestep - diff_to_prev;
  timestep = prk_timesteps_[counter_ / 4 * 4];
  torch::Tensor model_output = model_output_in;
  // Classic RK4 weights 1/6, 1/3, 1/3, 1/6 accumulated over the 4 evaluations of a step.
  auto acc = [this](const torch::Tensor& add) {
    cur_model_output_ = cur_model_output_.defined() ? cur_model_output_ + add : add + 0;
  };
  if (counter_ % 4 == 0) {
    acc((1.0 / 6) * model_output_in);
    ets_.push_back(model_output_in);
    cur_sample_ = sample;
  } else if ((counter_ - 1) % 4 == 0) {
    acc((1.0 / 3) * model_output_in);
  } else if ((counter_ - 2) % 4 == 0) {
    acc((1.0 / 3) * model_output_in);
  } else {
    model_output = cur_model_output_.defined() ? cur_model_output_ + (1.0 / 6) * model_output_in
                                               : (1.0 / 6) * model_output_in + 0;
    cur_model_output_ = torch::Tensor();
  }
  const torch::Tensor& cur_sample = cur_sample_.defined() ? cur_sample_ : sample;
  torch::Tensor out = prev_sample(cur_sample, timestep, prev_timestep, model_output);
  counter_ += 1;
  return out;
}

torch::Tensor PNDMScheduler::step_plms(const torch::Tensor& model_output_in, int64_t timestep,
                                       const torch::Tensor& sample_in) {
  AFA_CHECK(cfg_.skip_prk_steps || ets_.size() >= 3, "PNDMScheduler: PLMS needs the 3 PRK warm-up steps first");
  const int64_t ratio = cfg_.num_train_timesteps / num_inference_steps_;
  int64_t prev_timestep = timestep - ratio;
  if (counter_ != 1) {
    if (ets_.size() > 3) ets_.erase(ets_.begin(), ets_.end() - 3);
    ets_.push_back(model_output_in);
  } else {
    // Second evaluation of the warm-up: same x_t target, from the previous timestep.
    prev_timestep = timestep;
    timestep = timestep + ratio;
  }
  torch::Tensor model_output = model_output_in;
  torch::Tensor sample = sample_in;
  const size_t k = ets_.size();
  if (k == 1 && counter_ == 0) {
    cur_sample_ = sample_in;
  } else if (k == 1 && counter_ == 1) {
    model_output = (model_output_in + ets_[k - 1]) / 2;
    sample = cur_sample_;
    cur_sample_ = torch::Tensor();
  } else if (k == 2) {
    model_output = (3 * ets_[k - 1] - ets_[k - 2]) / 2;
  } else if (k == 3) {
    model_output = (23 * ets_[k - 1] - 16 * ets_[k - 2] + 5 * ets_[k - 3]) / 12;
  } else {
    model_output = (1.0 / 24) * (55 * ets_[k - 1] - 59 * ets_[k - 2] + 37 * ets_[k - 3] - 9 * ets_[k - 4]);
  }
  torch::Tensor out = prev_sample(sample, timestep, prev_timestep, model_output);
  counter_ += 1;
  return out;
}

torch::Tensor PNDMScheduler::prev_sample(const torch::Tensor& sample, int64_t timestep, int64_t prev_timestep,
                                         const torch::Tensor& model_output_in) const {
  // Formula (9) of the paper, x_{t-delta} from x_t and epsilon.
  const torch::Tensor& ac = sched_.alphas_cumprod;
  torch::Tensor alpha_prod_t = ac[timestep];
  torch::Tensor alpha_prod_t_prev = prev_timestep >= 0 ? ac[prev_timestep] : final_alpha_cumprod_;
  torch::Tensor beta_prod_t = torch::rsub(alpha_prod_t, 1);
  torch::Tensor beta_prod_t_prev = torch::rsub(alpha_prod_t_prev, 1);
  torch::Tensor model_output = model_output_in;
  if (cfg_.prediction_type == "v_prediction")
    model_output = alpha_prod_t.pow(0.5) * model_output + beta_prod_t.pow(0.5) * sample;
  torch::Tensor sample_coeff = (alpha_prod_t_prev / alpha_prod_t).pow(0.5);
  torch::Tensor denom = alpha_prod_t * beta_prod_t_prev.pow(0.5) + (alpha_prod_t * beta_prod_t * alpha_prod_t_prev).pow(0.5);
  return sample_coeff * sample - (alpha_prod_t_prev - alpha_prod_t) * model_output / denom;
}

}  // namespace afa::schedulers
