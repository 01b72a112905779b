#include "afa/demo/frechet.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::demo {

namespace {

// The symmetric square root of a symmetric positive semi-definite matrix (negative rounding clamped).
torch::Tensor sqrt_psd(const torch::Tensor& s) {
  auto [values, vectors] = torch::linalg::eigh(s, "L");
  return torch::matmul(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.transpose(0, 1));
}

}  // namespace

Gaussian fit_gaussian(const torch::Tensor& features) {
  AFA_CHECK(features.dim() == 2 && features.size(0) >= 2, "Fréchet distance needs [N >= 2, D] features, got ",
            features.sizes());
  auto x = features.to(torch::kCPU, torch::kFloat64);
  auto mean = x.mean(0);
  auto c = x - mean;
  return {mean, torch::matmul(c.transpose(0, 1), c) / double(x.size(0) - 1)};
}

double frechet_distance(const Gaussian& a, const Gaussian& b) {
  AFA_CHECK(a.mean.sizes() == b.mean.sizes(), "Fréchet distance of features of different widths (",
            a.mean.size(0), " and ", b.mean.size(0), ")");
  const double mean_term = (a.mean - b.mean).pow(2).sum().item<double>();
  const auto root_a = sqrt_psd(a.covariance);
  auto m = torch::matmul(torch::matmul(root_a, b.covariance), root_a);
  m = (m + m.transpose(0, 1)) / 2;  // symmetric up to rounding; make it exactly so for eigh
  const double trace_sqrt = torch::linalg::eigvalsh(m, "L").clamp_min(0).sqrt().sum().item<double>();
  return mean_term + a.covariance.trace().item<double>() + b.covariance.trace().item<double>() - 2 * trace_sqrt;
}

double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b) {
  return frechet_distance(fit_gaussian(features_a), fit_gaussian(features_b));
}

}  // namespace afa::demo
