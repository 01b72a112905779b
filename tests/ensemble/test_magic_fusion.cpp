// MagicFusion (saliency-aware noise blending): the saliency map's construction, and the blend's
// invariants on the tiny models A, B, C (there is no reference implementation in the goldens).
#include <gtest/gtest.h>

#include "afa/ensemble/magic_fusion.h"
#include "afa/util/error.h"
#include "golden.h"
#include "tiny_models.h"

namespace afa::test {
namespace {

using ensemble::MagicFusion;
using ensemble::MagicFusionOptions;
using ensemble::magic_fusion_saliency;

TEST(MagicFusionSaliency, IsASoftmaxOverPixelsPeakingAtTheGuidanceSpike) {
  auto g = torch::zeros({2, 4, 8, 12});
  g.index_put_({0, torch::indexing::Slice(), 3, 7}, -5.0);  // |a| counts, not the sign
  g.index_put_({1, 2, 6, 2}, 3.0);
  auto s = magic_fusion_saliency(g, 1.0);
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{2, 8, 12}));
  EXPECT_TRUE(AllClose(s.sum({1, 2}), torch::ones({2}), 1e-6));
  // avg-pool k4 s1 p1 (8x12 -> 7x11): output (i, j) averages input rows i-1..i+2 and columns j-1..j+2,
  // so the spike at (3, 7) lifts outputs rows 1..4, columns 5..8 by 5/16. Nearest resizing back to 8x12
  // reads output row floor(r*7/8) and column floor(c*11/12): latent rows 2..5, columns 6..9 are lifted.
  auto ratio = [&](int b, int r, int c, int r0, int c0) {
    return s[b][r][c].item<double>() / s[b][r0][c0].item<double>();
  };
  const double lifted = std::exp(5.0 / 16.0);
  EXPECT_NEAR(ratio(0, 2, 6, 0, 0), lifted, 1e-5);
  EXPECT_NEAR(ratio(0, 5, 9, 0, 0), lifted, 1e-5);
  EXPECT_NEAR(ratio(0, 6, 9, 0, 0), 1.0, 1e-6);
  EXPECT_NEAR(ratio(0, 2, 5, 0, 0), 1.0, 1e-6);
  EXPECT_NEAR(ratio(0, 1, 7, 0, 0), 1.0, 1e-6);
  // one channel of four: the channel mean quarters the lift (spike (6, 2) -> latent rows 5..7, cols 0..4)
  EXPECT_NEAR(ratio(1, 6, 2, 0, 11), std::exp(3.0 / 16.0 / 4.0), 1e-5);
  EXPECT_NEAR(ratio(1, 7, 4, 0, 11), std::exp(3.0 / 16.0 / 4.0), 1e-5);
  EXPECT_NEAR(ratio(1, 4, 2, 0, 11), 1.0, 1e-6);
}

TEST(MagicFusionSaliency, TemperatureScalesTheLogits) {
  auto g = torch::randn({1, 4, 16, 16}, torch::TensorOptions().dtype(torch::kFloat64));
  auto l1 = magic_fusion_saliency(g, 1.0).log(), l3 = magic_fusion_saliency(g, 3.0).log();
  // log-softmax differences between pixels shrink by the temperature
  auto d1 = l1 - l1.flatten()[0], d3 = l3 - l3.flatten()[0];
  EXPECT_TRUE(AllClose(d3, d1 / 3.0, 1e-10));
  EXPECT_THROW(magic_fusion_saliency(g, 0.0), Error);
}

struct Trio {
  std::vector<models::UNet2DConditionModel> unets;
  std::vector<torch::Tensor> contexts;  // per model, [2, 77, D]: uncond row then cond row
};

Trio& trio() {
  static Trio t = [] {
    Trio t;
    torch::manual_seed(3);
    for (const char* m : {"A", "B", "C"}) {
      auto sd = load_tiny(m, false);
      t.unets.push_back(sd.unet);
      t.contexts.push_back(torch::randn({2, 77, sd.unet->config().cross_attention_dim}));
    }
    return t;
  }();
  return t;
}

torch::Tensor own_guided(size_t m, const torch::Tensor& x, const torch::Tensor& t, double s) {
  auto e = trio().unets[m]->forward(x, t, trio().contexts[m]).chunk(2);
  return e[0] + s * (e[1] - e[0]);
}

TEST(MagicFusion, EveryPixelTakesOneModelsGuidedNoiseAndEachModelWinsSomewhere) {
  torch::NoGradGuard ng;
  torch::manual_seed(5);
  auto x = torch::randn({1, 4, 16, 16}).repeat({2, 1, 1, 1});
  auto t = torch::tensor(500);
  MagicFusion mf(trio().unets);
  auto out = mf.guided(x, t, trio().contexts, 7.5);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 16, 16}));
  auto choice = mf.last_choice();
  ASSERT_EQ(choice.sizes(), (std::vector<int64_t>{1, 16, 16}));
  torch::Tensor want = torch::zeros_like(out);
  for (size_t m = 0; m < 3; ++m) {
    auto mask = (choice == int64_t(m)).unsqueeze(1).to(torch::kFloat32);
    EXPECT_GT(mask.sum().item<float>(), 0.0f) << "model " << m << " never chosen";
    want += mask * own_guided(m, x, t, 7.5);
  }
  EXPECT_TRUE(torch::equal(out, want));
  // The choice is the argmax of the three saliency maps, built against model 0's unconditional noise.
  std::vector<torch::Tensor> sal;
  auto u0 = trio().unets[0]->forward(x, t, trio().contexts[0]).chunk(2)[0];
  for (size_t m = 0; m < 3; ++m)
    sal.push_back(magic_fusion_saliency(7.5 * (trio().unets[m]->forward(x, t, trio().contexts[m]).chunk(2)[1] - u0), 1.0));
  EXPECT_TRUE(torch::equal(torch::stack(sal).argmax(0), choice));
}

TEST(MagicFusion, CopiesOfOneModelGiveThatModel) {
  torch::NoGradGuard ng;
  auto a = trio().unets[1];
  std::vector<torch::Tensor> ctx(3, trio().contexts[1]);
  auto x = torch::randn({1, 4, 8, 16}).repeat({2, 1, 1, 1});
  MagicFusion mf({a, a, a});
  EXPECT_TRUE(torch::equal(mf.guided(x, torch::tensor(900), ctx, 5.0), own_guided(1, x, torch::tensor(900), 5.0)));
  EXPECT_EQ(mf.last_choice().max().item<int64_t>(), 0) << "ties go to the first model";
}

TEST(MagicFusion, OutsideTheFusionWindowOneModelGuidesAlone) {
  torch::NoGradGuard ng;
  auto x = torch::randn({1, 4, 8, 8}).repeat({2, 1, 1, 1});
  MagicFusionOptions o;
  o.threshold = 600;
  o.fuse_above = true;
  o.outside = 2;
  MagicFusion mf(trio().unets, o);
  EXPECT_TRUE(torch::equal(mf.guided(x, torch::tensor(599), trio().contexts, 7.5),
                           own_guided(2, x, torch::tensor(599), 7.5)));
  EXPECT_FALSE(mf.last_choice().defined());
  auto fused = mf.guided(x, torch::tensor(600), trio().contexts, 7.5);
  EXPECT_TRUE(mf.last_choice().defined());
  EXPECT_FALSE(torch::equal(fused, own_guided(2, x, torch::tensor(600), 7.5)));
  o.fuse_above = false;  // now only below 600 fuses
  MagicFusion below(trio().unets, o);
  EXPECT_TRUE(torch::equal(below.guided(x, torch::tensor(600), trio().contexts, 7.5),
                           own_guided(2, x, torch::tensor(600), 7.5)));
}

TEST(MagicFusion, ATemperaturePerModelSteersTheChoice) {
  torch::NoGradGuard ng;
  torch::manual_seed(11);  // the same input whichever tests ran before in this process
  auto x = torch::randn({1, 4, 16, 16}).repeat({2, 1, 1, 1});
  auto count = [&](std::vector<double> temps) {
    MagicFusionOptions o;
    o.temperatures = std::move(temps);
    MagicFusion mf(trio().unets, o);
    mf.guided(x, torch::tensor(300), trio().contexts, 7.5);
    return (mf.last_choice() == 1).sum().item<int64_t>();
  };
  // A hot map is flat (≈ 1/HW everywhere) and loses to peaked maps at their salient pixels but wins
  // where they are below average; a cold one wins only at its peaks. They must differ.
  EXPECT_NE(count({1.0, 1e3, 1.0}), count({1.0, 1e-2, 1.0}));
}

TEST(MagicFusion, RejectsBadSettings) {
  MagicFusionOptions o;
  o.temperatures = {1.0, 2.0};
  EXPECT_THROW(MagicFusion(trio().unets, o), Error);
  o.temperatures.clear();
  o.general = 3;
  EXPECT_THROW(MagicFusion(trio().unets, o), Error);
  MagicFusion mf(trio().unets);
  auto x = torch::randn({2, 4, 8, 8});
  EXPECT_THROW(mf.guided(x, torch::tensor(10), trio().contexts, 1.0), Error);  // needs guidance
  EXPECT_THROW(mf.predict(x, torch::tensor(10), trio().contexts), Error);
}

}  // namespace
}  // namespace afa::test
