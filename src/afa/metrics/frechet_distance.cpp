#include "afa/metrics/frechet_distance.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::metrics {

Gaussian fit_gaussian(const torch::Tensor& features) {
  AFA_CHECK(features.dim() == 2 && features.size(0) >= 2, "Fréchet distance needs [N >= 2, D] features, got ",
            features.sizes());
  auto x = features.to(torch::kCPU, torch::kFloat64);
  AFA_CHECK(torch::isfinite(x).all().item<bool>(), "Fréchet distance: the features contain NaN or infinity");
  auto mean = x.mean(0);
  auto c = x - mean;
  return {mean, torch::matmul(c.transpose(0, 1), c) / double(x.size(0) - 1)};
}

FrechetTerms frechet_terms(const Gaussian& a, const Gaussian& b) {
  AFA_CHECK(a.mean.dim() == 1 && a.mean.sizes() == b.mean.sizes(),
            "Fréchet distance of features of different widths (", a.mean.sizes(), " and ", b.mean.sizes(), ")");
  const int64_t d = a.mean.size(0);
  AFA_CHECK(a.covariance.sizes() == torch::IntArrayRef({d, d}) && b.covariance.sizes() == a.covariance.sizes(),
            "Fréchet distance: covariances ", a.covariance.sizes(), " and ", b.covariance.sizes(),
            " do not match means of width ", d);
  const auto s1 = a.covariance.to(torch::kFloat64), s2 = b.covariance.to(torch::kFloat64);
  FrechetTerms t;
  t.mean_term = (a.mean.to(torch::kFloat64) - b.mean.to(torch::kFloat64)).pow(2).sum().item<double>();
  t.trace_a = s1.trace().item<double>();
  t.trace_b = s2.trace().item<double>();
  // scipy's sqrtm(S1 S2) works on the Schur form of the (non-symmetric) product; its trace is the sum of
  // the principal square roots of the diagonal, i.e. of the eigenvalues. Eigenvalues that rounding pushes
  // negative or complex (a singular product) then add their real parts, as they do in pytorch-fid.
  // pytorch-fid's eps-offset retry is for non-finite sqrtm output; no division happens here, so it
  // cannot arise (inputs are finite). Its ValueError for imaginary parts > 1e-3 on sqrtm's diagonal needs
  // the matrix itself, which this route never forms: the real part is returned as pytorch-fid would
  // otherwise do.
  const auto lambda = torch::linalg::eigvals(torch::matmul(s1, s2));
  t.trace_sqrt_product = torch::real(torch::sqrt(lambda)).sum().item<double>();
  t.distance = t.mean_term + t.trace_a + t.trace_b - 2 * t.trace_sqrt_product;
  return t;
}

double frechet_distance(const Gaussian& a, const Gaussian& b) { return frechet_terms(a, b).distance; }

double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b) {
  return frechet_distance(fit_gaussian(features_a), fit_gaussian(features_b));
}

}  // namespace afa::metrics
