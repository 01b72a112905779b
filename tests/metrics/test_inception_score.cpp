// numpy's RandomState permutation and torch-fidelity's Inception Score against the goldens (case 2).
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <random>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/inception_score.h"
#include "afa/metrics/numpy_random.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

TEST(NumpyRandom, DrawsAreTheStandardMersenneTwister) {
  // numpy's mt19937_seed is init_genrand, as std::mt19937's seeding constructor.
  for (uint32_t seed : {0u, 2020u, 5489u, 0xffffffffu}) {
    NumpyRandomState r(seed);
    std::mt19937 reference(seed);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(r.next_uint32(), reference()) << "seed " << seed << " draw " << i;
  }
  EXPECT_EQ(NumpyRandomState(5489).next_uint32(), 3499211612u);  // MT19937's published first output
}

TEST(NumpyRandom, PermutationMatchesNumpy) {
  // np.random.RandomState(0).permutation(10)
  EXPECT_EQ(NumpyRandomState(0).permutation(10), (std::vector<int64_t>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}));
  afa::io::SafeTensorsFile f(metrics_golden("isc/isc_logits.safetensors"));
  for (int64_t n : {500, 253}) {
    const auto expected = f.get("perm_rng2020_n" + std::to_string(n));
    const auto perm = NumpyRandomState(2020).permutation(n);
    EXPECT_TRUE(torch::equal(torch::tensor(perm, torch::kInt64), expected)) << "n = " << n;
  }
  EXPECT_TRUE(NumpyRandomState(1).permutation(0).empty());
  EXPECT_EQ(NumpyRandomState(1).permutation(1), std::vector<int64_t>{0});
}

TEST(NumpyRandom, IntervalStaysInRange) {
  NumpyRandomState r(7);
  for (uint64_t max : {1ull, 2ull, 5ull, 1000ull, 0xffffffffull, 0x100000000ull, 0x123456789abcull})
    for (int i = 0; i < 200; ++i) ASSERT_LE(r.interval(max), max);
  EXPECT_EQ(r.interval(0), 0u);
}

TEST(InceptionScoreGolden, MatchesTorchFidelityOnEveryCase) {
  afa::io::SafeTensorsFile f(metrics_golden("isc/isc_logits.safetensors"));
  const auto logits = f.get("L500").to(torch::kFloat32);  // F16, used as float32 as torch-fidelity got it
  const auto cases = read_json(metrics_golden("isc/isc_cases.json"))["cases"];
  ASSERT_EQ(cases.size(), 4u);
  double worst = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const int64_t n = c["n"];
    InceptionScoreOptions o;
    o.splits = c["splits"];
    o.shuffle = c["shuffle"];
    o.seed = c["rng_seed"];
    const auto r = inception_score(logits.slice(0, 0, n), o);
    auto check = [&](double actual, double expected) {
      const double rel = std::abs(actual - expected) / std::abs(expected);
      worst = std::max(worst, rel);
      EXPECT_LE(rel, 1e-9) << actual << " vs " << expected;
    };
    check(r.mean, c["inception_score_mean"]);
    check(r.std, c["inception_score_std"]);
    ASSERT_EQ(r.split_scores.size(), c["split_scores"].size());
    for (size_t i = 0; i < r.split_scores.size(); ++i) check(r.split_scores[i], c["split_scores"][i]);
  }
  std::cout << "[ golden   ] Inception Score: max relative error " << worst << " (tolerance 1e-9)\n";
}

TEST(InceptionScore, UniformPredictionsScoreOne) {
  // Every image predicted the same: KL(p || mean p) = 0, score exp(0) = 1 in every split.
  const auto r = inception_score(torch::randn({1, 7}).expand({40, 7}).contiguous());
  EXPECT_NEAR(r.mean, 1.0, 1e-12);
  EXPECT_NEAR(r.std, 0.0, 1e-12);
}

TEST(InceptionScore, CertainPredictionsOfKClassesScoreK) {
  // Each split holds every one of 4 classes once, predicted with certainty: exp(KL) = exp(log 4) = 4.
  const auto classes = torch::arange(40, torch::kInt64).remainder(4);
  const auto logits = torch::one_hot(classes, 6).to(torch::kFloat64) * 60.0;
  InceptionScoreOptions o;
  o.shuffle = false;
  const auto r = inception_score(logits, o);
  EXPECT_NEAR(r.mean, 4.0, 1e-9);
  EXPECT_NEAR(r.std, 0.0, 1e-9);
  // Shuffled, the splits mix the classes unevenly, so the score drops below 4 and varies.
  const auto shuffled = inception_score(logits);
  EXPECT_LT(shuffled.mean, 4.0 - 1e-3);
  EXPECT_GT(shuffled.std, 1e-3);
}

TEST(InceptionScore, RejectsBadInput) {
  EXPECT_NE(error_of([] { inception_score(torch::zeros({5, 3})); }).find("at least one image per split"),
            std::string::npos);
  EXPECT_THROW(inception_score(torch::zeros({20})), afa::Error);
  auto bad = torch::zeros({20, 3});
  bad[3][1] = NAN;
  EXPECT_THROW(inception_score(bad), afa::Error);
}

}  // namespace
}  // namespace afa::test
