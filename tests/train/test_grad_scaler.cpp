// Dynamic loss scaling (fp16 training): unscaling, overflow detection, the scale's halving and growth.
#include <gtest/gtest.h>

#include <limits>

#include "afa/train/grad_scaler.h"

namespace afa::test {
namespace {

using train::GradScaler;

TEST(GradScaler, ScalesTheLossAndUnscalesTheGradients) {
  GradScaler s(true, 1024.0, 3);
  EXPECT_DOUBLE_EQ(s.scale_loss(torch::tensor(0.5)).item<double>(), 512.0);
  std::vector<torch::Tensor> g{torch::tensor({2048.0, -1024.0}), torch::Tensor()};
  EXPECT_TRUE(s.unscale(g));
  EXPECT_TRUE(torch::equal(g[0], torch::tensor({2.0, -1.0})));
}

TEST(GradScaler, OverflowSkipsAndHalvesCleanStepsGrowTheScale) {
  GradScaler s(true, 1024.0, 3);
  std::vector<torch::Tensor> bad{torch::tensor({1.0f, std::numeric_limits<float>::infinity()})};
  EXPECT_FALSE(s.unscale(bad));
  s.update(false);
  EXPECT_DOUBLE_EQ(s.scale(), 512.0);
  std::vector<torch::Tensor> nan{torch::tensor({std::numeric_limits<float>::quiet_NaN()})};
  EXPECT_FALSE(s.unscale(nan));
  for (int i = 0; i < 2; ++i) s.update(true);
  EXPECT_DOUBLE_EQ(s.scale(), 512.0);
  EXPECT_EQ(s.clean_steps(), 2);
  s.update(true);  // the third clean step in a row
  EXPECT_DOUBLE_EQ(s.scale(), 1024.0);
  EXPECT_EQ(s.clean_steps(), 0);
  s.restore(8.0, 1);
  EXPECT_DOUBLE_EQ(s.scale(), 8.0);
}

TEST(GradScaler, DisabledIsTheIdentity) {
  GradScaler s(false);
  EXPECT_DOUBLE_EQ(s.scale(), 1.0);
  auto loss = torch::tensor(3.0);
  EXPECT_TRUE(s.scale_loss(loss).is_same(loss));
  std::vector<torch::Tensor> g{torch::tensor({std::numeric_limits<float>::infinity()})};
  EXPECT_TRUE(s.unscale(g));  // nothing checked: float32 training does not skip steps
}

}  // namespace
}  // namespace afa::test
