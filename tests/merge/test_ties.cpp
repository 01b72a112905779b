// TIES and DARE on tensors small enough to check by hand; the weighted sums' exactness.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "afa/merge/ties.h"
#include "afa/merge/weighted.h"

namespace afa::merge {
namespace {

torch::Tensor t(std::vector<float> v) { return torch::tensor(v, torch::kFloat32); }

void expect_eq(const torch::Tensor& a, std::vector<float> want) {
  ASSERT_EQ(a.numel(), static_cast<int64_t>(want.size()));
  auto c = a.contiguous();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(c.data_ptr<float>()[i], want[i]) << "index " << i;
}

TEST(Ties, TrimKeepsTheLargestMagnitudes) {
  auto tau = t({0.1f, -0.5f, 0.3f, -0.05f, 0.2f});
  expect_eq(trim_top_magnitude(tau, 0.4), {0, -0.5f, 0.3f, 0, 0});  // 2 of 5
  expect_eq(trim_top_magnitude(tau, 0.2), {0, -0.5f, 0, 0, 0});
  expect_eq(trim_top_magnitude(tau, 1.0), {0.1f, -0.5f, 0.3f, -0.05f, 0.2f});
  expect_eq(trim_top_magnitude(tau, 0.05), {0, 0, 0, 0, 0});  // round(0.25) = 0 kept
  // Ties at the threshold are all kept.
  expect_eq(trim_top_magnitude(t({1, -1, 0.5f, 1}), 0.5), {1, -1, 0, 1});
}

TEST(Ties, ElectAndDisjointMean) {
  auto t1 = t({1, -2, 3, 0});
  auto t2 = t({-3, -1, 1, 0});
  auto t3 = t({1, 4, 0, 0});
  auto sign = elect_sign({t1, t2, t3});
  expect_eq(sign, {-1, 1, 1, 0});
  // index 0: only t2 agrees (-3); 1: t3 (4); 2: t1, t2 (mean 2); 3: none.
  expect_eq(disjoint_mean({t1, t2, t3}, sign), {-3, 4, 2, 0});
}

TEST(Ties, MergeByHand) {
  auto base = t({1, 1, 1, 1});
  auto m1 = t({2, 0.5f, 1, 1.1f});   // tau  1, -0.5, 0, 0.1
  auto m2 = t({0.5f, 0, 3, 1.2f});   // tau -0.5, -1, 2, 0.2
  TiesOptions o;
  o.density = 0.5;  // keeps 2 of 4: tau1 {1, -0.5, 0, 0}; tau2 {0, -1, 2, 0}
  o.lambda = 1.0;
  // sign: {+, -, +, 0}; mean of agreeing: {1, -0.75, 2, 0}
  expect_eq(ties_merge(base, {m1, m2}, o), {2, 0.25f, 3, 1});
  o.lambda = 0.5;
  expect_eq(ties_merge(base, {m1, m2}, o), {1.5f, 0.625f, 2, 1});
  o.density = 1.0;
  o.lambda = 1.0;
  // Without trimming: tau sums {0.5, -1.5, 2, 0.3} -> signs {+, -, +, +}
  expect_eq(ties_merge(base, {m1, m2}, o), {2, 1 - 0.75f, 3, 1.15f});
}

TEST(Dare, DropsAndRescalesReproducibly) {
  auto tau = torch::ones({10000});
  auto d = dare_drop(tau, 0.25, 7);
  auto kept = (d != 0);
  // Every kept entry is rescaled by 1/density; about a quarter is kept; the same seed draws the same mask.
  EXPECT_TRUE(torch::all(torch::where(kept, d, torch::full_like(d, 4.0)) == 4.0).item<bool>());
  double frac = kept.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(frac, 0.25, 0.02);
  EXPECT_TRUE(torch::equal(d, dare_drop(tau, 0.25, 7)));
  EXPECT_FALSE(torch::equal(d, dare_drop(tau, 0.25, 8)));
  EXPECT_TRUE(torch::equal(dare_drop(tau, 1.0, 7), tau));
  // The expected value is kept: the mean stays near 1.
  EXPECT_NEAR(d.mean().item<double>(), 1.0, 0.1);
}

TEST(Dare, TiesWithDareUsesOneSeedPerKeyAndModel) {
  auto base = torch::zeros({64});
  auto m1 = torch::ones({64}), m2 = torch::ones({64}) * 2;
  TiesOptions o;
  o.density = 0.5;
  o.dare = true;
  o.seed = 3;
  auto r = ties_merge(base, {m1, m2}, o, "k");
  // By hand: each model's kept entries become 2 and 4; the mean of the kept ones.
  auto d1 = dare_drop(m1, 0.5, dare_seed(3, "k", 0)), d2 = dare_drop(m2, 0.5, dare_seed(3, "k", 1));
  auto count = (d1 != 0).to(torch::kFloat32) + (d2 != 0).to(torch::kFloat32);
  auto want = torch::where(count > 0, (d1 + d2) / count.clamp_min(1), torch::zeros_like(count));
  EXPECT_TRUE(torch::allclose(r, want));
  EXPECT_TRUE(torch::equal(r, ties_merge(base, {m1, m2}, o, "k")));
  EXPECT_FALSE(torch::equal(r, ties_merge(base, {m1, m2}, o, "other key")));
  EXPECT_NE(dare_seed(3, "k", 0), dare_seed(3, "k", 1));
}

TEST(Weighted, SumsAndExactEnds) {
  auto a = t({1.5f, -2, 0.1f}), b = t({3, 4, -0.3f}), c = t({1, 1, 1});
  expect_eq(weighted_sum({a, b}, {0.5, 0.5}), {2.25f, 1, -0.1f});
  EXPECT_TRUE(torch::equal(weighted_sum({a, b}, {1.0, 0.0}), a));
  EXPECT_TRUE(torch::equal(weighted_sum({a, b}, {0.0, 1.0}), b));
  expect_eq(weighted_sum({a, b, c}, {0.5, 0.25, 0.25}), {0.75f + 0.75f + 0.25f, -1 + 1 + 0.25f, 0.05f - 0.075f + 0.25f});
  expect_eq(add_difference(a, b, c, 0.5), {2.5f, -0.5f, -0.55f});
  EXPECT_TRUE(torch::equal(add_difference(a, b, c, 0.0), a));
}

}  // namespace
}  // namespace afa::merge
