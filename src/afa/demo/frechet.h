// The Fréchet distance between two Gaussians fitted to feature sets, as FID computes it:
//   d^2 = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)),
// in float64, with Tr sqrtm(S1 S2) = sum_i sqrt(lambda_i) over the eigenvalues of the symmetric
// sqrt(S1) S2 sqrt(S1) (the same eigenvalues as S1 S2), which avoids a non-symmetric sqrtm.
#pragma once

#include <torch/types.h>

namespace afa::demo {

struct Gaussian {
  torch::Tensor mean;        // float64 [D]
  torch::Tensor covariance;  // float64 [D, D], unbiased (N - 1), as numpy.cov
};

// Fits features [N, D] (N >= 2). Throws afa::Error for fewer rows or a non-2-D tensor.
Gaussian fit_gaussian(const torch::Tensor& features);

double frechet_distance(const Gaussian& a, const Gaussian& b);
double frechet_distance(const torch::Tensor& features_a, const torch::Tensor& features_b);

}  // namespace afa::demo
