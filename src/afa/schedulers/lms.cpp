#include "afa/schedulers/lms.h"

#include <torch/torch.h>

#include "afa/schedulers/numpy_compat.h"
#include "afa/util/error.h"

namespace afa::schedulers {

LMSDiscreteScheduler::LMSDiscreteScheduler(const SchedulerConfig& cfg)
    : SigmaScheduler(cfg, "LMSDiscreteScheduler") {}

void LMSDiscreteScheduler::set_timesteps(int64_t n) {
  set_grid(make_sigma_grid(cfg_, sched_.alphas_cumprod, n, "linear", cfg_.use_karras_sigmas, "LMSDiscreteScheduler"));
  const float* p = sigmas_.data_ptr<float>();
  sigmas_f_.assign(p, p + sigmas_.size(0));
  derivatives_.clear();
  next_step_ = 0;
}

double LMSDiscreteScheduler::lms_coefficient(int64_t ord, int64_t t, int64_t current_order) const {
  const std::vector<float>& s = sigmas_f_;
  // The Lagrange basis polynomial of node t - current_order, evaluated as diffusers does: python float tau
  // against float32 0-d tensors, so every operation rounds to float32 (tau itself included).
  auto lms_derivative = [&](double tau) -> double {
    bool any = false;
    float prod = 1.0f;
    for (int64_t k = 0; k < ord; ++k) {
      if (k == current_order) continue;
      const float num = static_cast<float>(tau) - s[t - k];
      const float den = s[t - current_order] - s[t - k];
      const float q = num / den;
      prod = any ? prod * q : q;  // 1.0 * q is q
      any = true;
    }
    return any ? static_cast<double>(prod) : 1.0;
  };
  return np::quad(lms_derivative, static_cast<double>(s[t]), static_cast<double>(s[t + 1]), 1.49e-8, 1e-4);
}

torch::Tensor LMSDiscreteScheduler::step(const torch::Tensor& model_output, int64_t i, const torch::Tensor& sample,
                                         c10::optional<at::Generator>) {
  torch::NoGradGuard no_grad;
  check_step_index(i, num_steps(), name());
  AFA_CHECK(i == next_step_, "LMSDiscreteScheduler: steps must be taken in order; expected step ", next_step_, ", got ", i);
  AFA_CHECK(order >= 1, "LMSDiscreteScheduler: order must be >= 1, got ", order);
  torch::Tensor sigma = sigmas_[i];
  // 1. x0 from the sigma-scaled prediction
  torch::Tensor pred_original_sample;
  if (cfg_.prediction_type == "epsilon") {
    pred_original_sample = sample - sigma * model_output;
  } else if (cfg_.prediction_type == "v_prediction") {
    pred_original_sample = model_output * (-sigma / (sigma.pow(2) + 1).pow(0.5)) + (sample / (sigma.pow(2) + 1));
  } else {
    pred_original_sample = model_output;
  }
  // 2. ODE derivative, kept for the last `order` steps
  torch::Tensor derivative = (sample - pred_original_sample) / sigma;
  derivatives_.push_back(derivative);
  if (static_cast<int64_t>(derivatives_.size()) > order) derivatives_.erase(derivatives_.begin());
  // 3. coefficients, 4. x_{t-1} = x_t + sum_k c_k d_{t-k} (Python's sum starts at 0)
  const int64_t ord = std::min(i + 1, order);
  torch::Tensor acc;
  for (int64_t k = 0; k < ord; ++k) {
    const double c = lms_coefficient(ord, i, k);
    const torch::Tensor& d = derivatives_[derivatives_.size() - 1 - k];
    torch::Tensor term = d * c;
    acc = acc.defined() ? acc + term : term + 0;
  }
  next_step_ = i + 1;
  return sample + acc;
}

}  // namespace afa::schedulers
