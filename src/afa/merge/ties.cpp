#include "afa/merge/ties.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "afa/util/error.h"

namespace afa::merge {

TrimThreshold magnitude_threshold(torch::Tensor magnitudes, double density) {
  AFA_CHECK(density > 0.0 && density <= 1.0, "--density must be in (0, 1], not ", density);
  const int64_t n = magnitudes.numel();
  const int64_t keep = std::llround(density * static_cast<double>(n));
  TrimThreshold t;
  if (keep >= n) return t;
  if (keep <= 0) {
    t.kind = TrimThreshold::kKeepNone;
    return t;
  }
  // The keep-th largest magnitude is the (n − keep + 1)-th smallest: found in place.
  t.kind = TrimThreshold::kKeepAtLeast;
  if (magnitudes.scalar_type() != torch::kFloat32 || !magnitudes.is_contiguous())
    magnitudes = magnitudes.to(torch::kFloat32).contiguous();
  float* v = magnitudes.data_ptr<float>();
  std::nth_element(v, v + (n - keep), v + n);
  t.value = torch::tensor(v[n - keep]);
  return t;
}

torch::Tensor apply_threshold(const torch::Tensor& tau, const TrimThreshold& t) {
  switch (t.kind) {
    case TrimThreshold::kKeepAll: return tau;
    case TrimThreshold::kKeepNone: return torch::zeros_like(tau);
    case TrimThreshold::kKeepAtLeast: break;
  }
  return torch::where(tau.abs() >= t.value, tau, torch::zeros_like(tau));
}

torch::Tensor trim_top_magnitude(const torch::Tensor& tau, double density) {
  return apply_threshold(tau, magnitude_threshold(tau.abs(), density));
}

torch::Tensor dare_drop(const torch::Tensor& tau, double density, uint64_t seed) {
  AFA_CHECK(density > 0.0 && density <= 1.0, "--density must be in (0, 1], not ", density);
  if (density == 1.0) return tau;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::Tensor u = at::rand(tau.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
  return torch::where(u < density, tau / density, torch::zeros_like(tau));
}

torch::Tensor elect_sign(const std::vector<torch::Tensor>& taus) {
  torch::Tensor sum = taus.at(0).clone();
  for (size_t i = 1; i < taus.size(); ++i) sum.add_(taus[i]);
  return sum.sign();
}

torch::Tensor disjoint_mean(const std::vector<torch::Tensor>& taus, const torch::Tensor& sign) {
  torch::Tensor total = torch::zeros_like(taus.at(0));
  torch::Tensor count = torch::zeros_like(taus.at(0));
  for (const auto& t : taus) {
    torch::Tensor agree = (t.sign() == sign) & (t != 0);
    total.add_(torch::where(agree, t, torch::zeros_like(t)));
    count.add_(agree.to(count.scalar_type()));
  }
  return torch::where(count > 0, total / count.clamp_min(1), torch::zeros_like(total));
}

uint64_t dare_seed(uint64_t seed, const std::string& key, size_t model) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : key) h = (h ^ ch) * 1099511628211ull;
  h ^= seed + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= (static_cast<uint64_t>(model) + 1) * 0xbf58476d1ce4e5b9ull;
  return h;
}

torch::Tensor ties_merge_thresholded(const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                                     const std::vector<TrimThreshold>& thresholds, double lambda) {
  AFA_CHECK(!models.empty() && models.size() == thresholds.size(), "TIES: one threshold per model");
  std::vector<torch::Tensor> taus;
  for (size_t i = 0; i < models.size(); ++i) taus.push_back(apply_threshold(models[i] - base, thresholds[i]));
  torch::Tensor merged = disjoint_mean(taus, elect_sign(taus));
  if (lambda == 0.0) return base;
  return base + merged * lambda;
}

torch::Tensor ties_merge(const torch::Tensor& base, const std::vector<torch::Tensor>& models, const TiesOptions& o,
                         const std::string& key) {
  AFA_CHECK(!models.empty(), "TIES needs a base and at least one more model");
  std::vector<torch::Tensor> taus;
  for (size_t i = 0; i < models.size(); ++i) {
    torch::Tensor tau = models[i] - base;
    taus.push_back(o.dare ? dare_drop(tau, o.density, dare_seed(o.seed, key, i)) : trim_top_magnitude(tau, o.density));
  }
  torch::Tensor merged = disjoint_mean(taus, elect_sign(taus));
  if (o.lambda == 0.0) return base;
  return base + merged * o.lambda;
}

}  // namespace afa::merge
