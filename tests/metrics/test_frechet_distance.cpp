// The Fréchet distance against closed forms and pytorch-fid's goldens (golden/metrics case 1).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/frechet_distance.h"
#include "afa/util/error.h"
#include "metrics_golden.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

torch::Tensor features(int64_t n, int64_t d, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return torch::randn({n, d}, gen, torch::kFloat64) * torch::linspace(0.5, 2.0, d, torch::kFloat64);
}

TEST(Frechet, IdenticalSetsAreAtDistanceZero) {
  const auto a = features(200, 16, 1);
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-9);
  EXPECT_NEAR(frechet_distance(a.to(torch::kFloat32), a), 0.0, 1e-4);
}

TEST(Frechet, AShiftedSetIsAtTheSquaredShift) {
  const auto a = features(300, 8, 2);
  const auto shift = torch::linspace(-1.0, 2.0, 8, torch::kFloat64);
  EXPECT_NEAR(frechet_distance(a, a + shift), shift.pow(2).sum().item<double>(), 1e-8);
}

TEST(Frechet, FitMatchesNumpyCov) {
  // Rows (1, 2), (3, 6), (5, 7): means (3, 5); unbiased covariance [[4, 5], [5, 7]].
  const auto g = fit_gaussian(torch::tensor({1.0, 2.0, 3.0, 6.0, 5.0, 7.0}, torch::kFloat64).reshape({3, 2}));
  EXPECT_TRUE(torch::allclose(g.mean, torch::tensor({3.0, 5.0}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(g.covariance, torch::tensor({4.0, 5.0, 5.0, 7.0}, torch::kFloat64).reshape({2, 2})));
  EXPECT_THROW(fit_gaussian(torch::zeros({1, 3})), afa::Error);
}

TEST(Frechet, DiagonalCovariancesHaveTheClosedForm) {
  // d^2 = ||mu1 - mu2||^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2, also after one common rotation.
  const auto s1 = torch::tensor({1.0, 4.0, 9.0, 0.25}, torch::kFloat64), s2 = torch::tensor({4.0, 1.0, 9.0, 1.0}, torch::kFloat64);
  const auto m1 = torch::tensor({0.0, 1.0, 0.0, 0.0}, torch::kFloat64), m2 = torch::tensor({1.0, 1.0, 0.0, 2.0}, torch::kFloat64);
  const double expect = (m1 - m2).pow(2).sum().item<double>() + (s1.sqrt() - s2.sqrt()).pow(2).sum().item<double>();
  EXPECT_NEAR(frechet_distance(Gaussian{m1, torch::diag(s1)}, Gaussian{m2, torch::diag(s2)}), expect, 1e-10);
  auto q = std::get<0>(torch::linalg::qr(torch::randn({4, 4}, at::detail::createCPUGenerator(3), torch::kFloat64)));
  const auto r1 = torch::matmul(torch::matmul(q, torch::diag(s1)), q.t()), r2 = torch::matmul(torch::matmul(q, torch::diag(s2)), q.t());
  EXPECT_NEAR(frechet_distance(Gaussian{m1, r1}, Gaussian{m2, r2}), expect, 1e-9);
}

TEST(Frechet, NonCommutingCovariancesMatchTheTwoByTwoFormula) {
  // For 2x2 M with non-negative eigenvalues, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)).
  const auto s1 = torch::tensor({2.0, 0.6, 0.6, 1.0}, torch::kFloat64).reshape({2, 2});
  const auto s2 = torch::tensor({1.0, -0.4, -0.4, 3.0}, torch::kFloat64).reshape({2, 2});
  const auto m = torch::matmul(s1, s2);
  const double tr_sqrt = std::sqrt(m.trace().item<double>() + 2 * std::sqrt(torch::det(m).item<double>()));
  const double expect = 1.0 + s1.trace().item<double>() + s2.trace().item<double>() - 2 * tr_sqrt;
  const auto zero = torch::zeros({2}, torch::kFloat64), one = torch::tensor({1.0, 0.0}, torch::kFloat64);
  EXPECT_NEAR(frechet_distance(Gaussian{zero, s1}, Gaussian{one, s2}), expect, 1e-10);
  // Symmetric in its arguments.
  EXPECT_NEAR(frechet_distance(Gaussian{one, s2}, Gaussian{zero, s1}), expect, 1e-10);
}

// --- pytorch-fid v0.3.0 goldens (calculate_activation_statistics, calculate_frechet_distance) ---

// Relative to the largest entry: mean and covariance as numpy sums them, up to summation order.
double max_rel(const torch::Tensor& actual, const torch::Tensor& expected) {
  return max_abs_diff(actual, expected) / expected.abs().max().item<double>();
}

TEST(FrechetGolden, FitMatchesNumpyMeanAndCov) {
  afa::io::SafeTensorsFile f(metrics_golden("fid/fid_sets.safetensors"));
  for (const char* name : {"A64", "B64", "NS1", "NS2", "R1_2048", "R2_2048"}) {
    SCOPED_TRACE(name);
    const auto g = fit_gaussian(f.get(name));
    EXPECT_LE(max_rel(g.mean, f.get(std::string(name) + ".mu")), 1e-13);
    const std::string sigma = std::string(name) + ".sigma";
    if (f.contains(sigma)) {
      EXPECT_LE(max_rel(g.covariance, f.get(sigma)), 1e-13);
    } else {  // 2048-d: the golden stores the diagonal only
      EXPECT_LE(max_rel(g.covariance.diagonal(), f.get(sigma + "_diag")), 1e-13);
    }
  }
}

TEST(FrechetGolden, MatchesPytorchFidOnEveryCase) {
  afa::io::SafeTensorsFile f(metrics_golden("fid/fid_sets.safetensors"));
  const auto cases = read_json(metrics_golden("fid/fid_cases.json"))["cases"];
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const auto t = frechet_terms(fit_gaussian(f.get(c["set1"].get<std::string>())),
                                 fit_gaussian(f.get(c["set2"].get<std::string>())));
    const double fid = c["fid"];
    // The README's tolerances: sqrtm of a singular product (rank-8 NS sets, rank-99 2048-d sets) sums
    // rounding noise of its near-zero eigenvalues differently from any other route; full rank is exact.
    double tol = 1e-8 * std::max(std::abs(fid), 1.0);
    if (c["dims"] == 2048) tol = 2e-3;
    else if (name.find("NS") != std::string::npos) tol = 5e-5;
    EXPECT_NEAR(t.distance, fid, tol);
    EXPECT_NEAR(t.mean_term, c["mean_term"].get<double>(), 1e-12 * std::max(1.0, c["mean_term"].get<double>()));
    EXPECT_NEAR(t.trace_a, c["trace_sigma1"].get<double>(), 1e-12 * c["trace_sigma1"].get<double>());
    EXPECT_NEAR(t.trace_b, c["trace_sigma2"].get<double>(), 1e-12 * c["trace_sigma2"].get<double>());
    std::cout << "[ golden   ] " << name << ": fid " << t.distance << " vs " << fid << ", |diff| "
              << std::abs(t.distance - fid) << " (tolerance " << tol << ")\n";
  }
}

}  // namespace
}  // namespace afa::test
