// autoMBW's block-weight search on scorers whose best weights are known.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "afa/merge/auto_mbw.h"
#include "merge_test_util.h"

namespace afa::merge {
namespace {

// Best at target[b] for every block, separable: -Σ (w_b - target_b)².
BlockScorer quadratic(const std::array<double, kNumBlocks>& target, int64_t* calls = nullptr) {
  return [target, calls](const BlockWeights& w) {
    if (calls) ++*calls;
    double s = 0;
    for (int b = 0; b < kNumBlocks; ++b) s -= (w.alpha[b] - target[b]) * (w.alpha[b] - target[b]);
    return s;
  };
}

std::array<double, kNumBlocks> some_target() {
  std::array<double, kNumBlocks> t{};
  for (int b = 0; b < kNumBlocks; ++b) t[b] = (b * 3 % 11) / 10.0;  // on the 0.1 grid
  return t;
}

TEST(AutoMbw, CoordinatePassFindsTheGridOptimum) {
  auto target = some_target();
  int64_t calls = 0;
  SearchOptions o;
  auto r = search_block_weights(quadratic(target, &calls), o);
  for (int b = 0; b < kNumBlocks; ++b) EXPECT_NEAR(r.best.alpha[b], target[b], 1e-9) << kBlockIds[b];
  EXPECT_NEAR(r.best_score, 0, 1e-12);
  EXPECT_EQ(r.trials + r.replayed, 1 + 26 * 11);
  EXPECT_LT(r.trials, 1 + 26 * 11);  // repeats (the current value of a block) are not scored twice
  EXPECT_EQ(calls, r.trials);
}

TEST(AutoMbw, MidPassHalvesTowardTheOptimum) {
  std::array<double, kNumBlocks> target;
  target.fill(0.8);
  SearchOptions o;
  o.mid_pass = true;
  o.step = 0.125;
  auto r = search_block_weights(quadratic(target), o);
  // By hand: 0.5 -> 0.75 (0.25 loses) -> 0.625 and 0.875 both lose -> 0.8125 wins; the interval is then
  // below the step: 0.8125.
  for (int b = 0; b < kNumBlocks; ++b) EXPECT_DOUBLE_EQ(r.best.alpha[b], 0.8125) << kBlockIds[b];
  EXPECT_LT(r.trials, 26 * 11);  // cheaper than the full pass
}

TEST(AutoMbw, VisitsBaseAndMiddleFirst) {
  auto order = default_search_order();
  ASSERT_EQ(order.size(), size_t(kNumBlocks));
  EXPECT_STREQ(kBlockIds[order[0]], "BASE");
  EXPECT_STREQ(kBlockIds[order[1]], "M00");
  EXPECT_STREQ(kBlockIds[order[2]], "IN00");
  EXPECT_STREQ(kBlockIds[order.back()], "OUT11");
}

TEST(AutoMbw, BudgetAndResumeFromTheLog) {
  afa::test::TempDir tmp("autombw");
  auto target = some_target();
  SearchOptions o;
  o.log_path = tmp.file("log.jsonl");
  o.budget = 40;
  int64_t calls = 0;
  auto first = search_block_weights(quadratic(target, &calls), o);
  EXPECT_TRUE(first.budget_exhausted);
  EXPECT_EQ(first.trials, 40);
  // Resumed: the 40 logged trials are replayed, not re-scored, and the search completes.
  o.budget = 0;
  calls = 0;
  std::vector<double> improvements;
  auto second = search_block_weights(quadratic(target, &calls), o,
                                     [&](const SearchResult& r) { improvements.push_back(r.best_score); });
  EXPECT_FALSE(second.budget_exhausted);
  EXPECT_GE(second.replayed, 40);
  EXPECT_EQ(calls, second.trials);
  for (int b = 0; b < kNumBlocks; ++b) EXPECT_NEAR(second.best.alpha[b], target[b], 1e-9);
  for (size_t i = 1; i < improvements.size(); ++i) EXPECT_GT(improvements[i], improvements[i - 1]);
  // The log holds every scored trial once.
  std::ifstream f(o.log_path);
  int64_t lines = 0;
  for (std::string l; std::getline(f, l);) ++lines;
  EXPECT_EQ(lines, first.trials + second.trials);
  // A damaged log is refused, naming it.
  std::ofstream(tmp.file("bad.jsonl")) << "not json\n";
  o.log_path = tmp.file("bad.jsonl");
  EXPECT_NE(afa::test::error_of([&] { search_block_weights(quadratic(target), o); }).find("bad.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace afa::merge
