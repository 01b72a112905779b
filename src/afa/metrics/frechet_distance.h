// The Fréchet distance between two Gaussians fitted to feature sets, as pytorch-fid v0.3.0 computes FID
// (fid_score.calculate_activation_statistics and calculate_frechet_distance):
//   d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr sqrtm(S1 S2),
// all in float64. pytorch-fid takes the real part of scipy's sqrtm(S1 S2) and its trace; the trace of a
// primary matrix function is the sum of the function over the eigenvalues, so here
//   Tr sqrtm(S1 S2) = Re sum_i sqrt(lambda_i(S1 S2))     (principal complex square roots).
// That is the same number without forming the square root; the two differ only in how rounding noise of
// the near-zero eigenvalues of a singular product is summed (see frechet_distance.cpp).
#pragma once

#include <torch/types.h>

namespace afa::metrics {

// mu and sigma of pytorch-fid: the mean (np.mean(act, axis=0)) and the unbiased covariance
// (np.cov(act, rowvar=False), N - 1).
struct Gaussian {
  torch::Tensor mean;        // float64 [D]
  torch::Tensor covariance;  // float64 [D, D]
};

// Fits features [N, D] (N >= 2, converted to float64 exactly). Throws afa::Error for fewer rows, a
// non-2-D tensor or non-finite values.
Gaussian fit_gaussian(const torch::Tensor& features);

// The distance and its parts (distance = mean_term + trace_a + trace_b - 2 trace_sqrt_product).
struct FrechetTerms {
  double distance = 0;
  double mean_term = 0;           // ||mu1 - mu2||^2
  double trace_a = 0, trace_b = 0;
  double trace_sqrt_product = 0;  // Re Tr sqrtm(S1 S2)
};
FrechetTerms frechet_terms(const Gaussian& a, const Gaussian& b);

double frechet_distance(const Gaussian& a, const Gaussian& b);
double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b);

}  // namespace afa::metrics
