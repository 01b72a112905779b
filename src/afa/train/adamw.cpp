#include "afa/train/adamw.h"

#include <algorithm>
#include <cmath>

#include "afa/util/error.h"

namespace afa::train {

AdamW::AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options)
    : params_(std::move(named_params)), state_(params_.size()), options_(options) {
  AFA_CHECK(options_.lr >= 0, "--lr must be >= 0 (got ", options_.lr, ")");
  AFA_CHECK(options_.weight_decay >= 0, "--weight-decay must be >= 0 (got ", options_.weight_decay, ")");
  AFA_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1,
            "AdamW betas must be in [0, 1)");
  AFA_CHECK(options_.eps >= 0, "AdamW eps must be >= 0");
}

void AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  const double b1 = options_.beta1, b2 = options_.beta2;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i].second;
    const torch::Tensor& g = p.grad();
    if (!g.defined()) continue;
    State& s = state_[i];
    if (!s.exp_avg.defined()) {
      s.exp_avg = torch::zeros_like(p, torch::MemoryFormat::Preserve);
      s.exp_avg_sq = torch::zeros_like(p, torch::MemoryFormat::Preserve);
    }
    s.step += 1;
    p.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.mul_(b1).add_(g, 1.0 - b1);
    s.exp_avg_sq.mul_(b2).addcmul_(g, g, 1.0 - b2);
    const double bias1 = 1.0 - std::pow(b1, double(s.step));
    const double bias2_sqrt = std::sqrt(1.0 - std::pow(b2, double(s.step)));
    auto denom = (s.exp_avg_sq.sqrt() / bias2_sqrt).add_(options_.eps);
    p.addcdiv_(s.exp_avg, denom, -lr / bias1);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) p.second.mutable_grad() = torch::Tensor();
}

std::map<std::string, torch::Tensor> AdamW::state_dict() const {
  std::map<std::string, torch::Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const State& s = state_[i];
    if (s.step == 0) continue;
    out[params_[i].first + ".exp_avg"] = s.exp_avg;
    out[params_[i].first + ".exp_avg_sq"] = s.exp_avg_sq;
    out[params_[i].first + ".step"] = torch::tensor(s.step, torch::kLong);
  }
  return out;
}

void AdamW::load_state_dict(const std::map<std::string, torch::Tensor>& state, const std::string& source) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;
  std::vector<State> loaded(params_.size());
  for (const auto& [key, t] : state) {
    const auto dot = key.rfind('.');
    AFA_CHECK(dot != std::string::npos, source, ": unexpected optimizer tensor '", key, "'");
    const std::string name = key.substr(0, dot), field = key.substr(dot + 1);
    auto it = index.find(name);
    AFA_CHECK(it != index.end(), source, ": optimizer state for '", name,
              "', which is not a trained parameter (different method or aggregator options?)");
    const torch::Tensor& p = params_[it->second].second;
    State& s = loaded[it->second];
    if (field == "step") {
      AFA_CHECK(t.numel() == 1, source, ": ", key, " must be a scalar");
      s.step = t.to(torch::kLong).item<int64_t>();
    } else if (field == "exp_avg" || field == "exp_avg_sq") {
      AFA_CHECK(t.sizes() == p.sizes(), source, ": ", key, " has shape ", t.sizes(), " but the parameter has ",
                p.sizes());
      (field == "exp_avg" ? s.exp_avg : s.exp_avg_sq) = t.to(p.device(), p.scalar_type()).clone();
    } else {
      fail(source, ": unexpected optimizer tensor '", key, "'");
    }
  }
  for (size_t i = 0; i < loaded.size(); ++i) {
    const State& s = loaded[i];
    const bool any = s.step > 0 || s.exp_avg.defined() || s.exp_avg_sq.defined();
    AFA_CHECK(!any || (s.step > 0 && s.exp_avg.defined() && s.exp_avg_sq.defined()), source,
              ": incomplete optimizer state for '", params_[i].first, "'");
  }
  state_ = std::move(loaded);
}

double warmup_lr(double lr, int64_t step, int64_t warmup_steps) {
  if (warmup_steps > 0 && step < warmup_steps) return lr * double(step) / double(warmup_steps);
  return lr;
}

const std::vector<std::string>& lr_scheduler_names() {
  static const std::vector<std::string> v{"constant", "cosine", "linear"};
  return v;
}

double scheduled_lr(const std::string& scheduler, double lr, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  const auto& names = lr_scheduler_names();
  AFA_CHECK(std::find(names.begin(), names.end(), scheduler) != names.end(),
            "--lr-scheduler must be constant, cosine or linear (got '", scheduler, "')");
  if (scheduler == "constant" || (warmup_steps > 0 && step < warmup_steps)) return warmup_lr(lr, step, warmup_steps);
  const double span = double(std::max<int64_t>(1, total_steps - warmup_steps));
  if (scheduler == "cosine") return lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * double(step - warmup_steps) / span)));
  return lr * std::max(0.0, double(total_steps - step) / span);  // linear
}

double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params)
    if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    // torch: clip_coef = max_norm / (total_norm + 1e-6), applied when < 1.
    const double coef = max_norm / (norm + 1e-6);
    for (const auto& p : params)
      if (p.grad().defined()) p.grad().mul_(coef);
  }
  return norm;
}

}  // namespace afa::train
