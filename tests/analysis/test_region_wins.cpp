// afa analyze's measurement: winners with ties, identical models only tie, a worse predictor never wins,
// fractions sum to 1, the same seed gives the same result.
#include <gtest/gtest.h>

#include "afa/analysis/analysis_report.h"
#include "afa/analysis/region_wins.h"
#include "afa/pipeline/text_to_image.h"
#include "test_util.h"
#include "tiny_models.h"

using namespace afa;

namespace {

// Predicts the exact noise of x_t = sqrt(a) x0 + sqrt(1 - a) eps (plus `offset`): the best possible
// denoiser for a known image, and a strictly worse one when offset != 0.
class Oracle : public pipeline::Denoiser {
 public:
  Oracle(torch::Tensor x0, torch::Tensor alphas_cumprod, double offset)
      : x0_(std::move(x0)), ac_(std::move(alphas_cumprod)), offset_(offset) {}
  torch::Tensor predict(const torch::Tensor& xt, const torch::Tensor& t, const std::vector<torch::Tensor>&) override {
    const auto a = ac_[t.item<int64_t>()].to(torch::kFloat64);
    auto eps = (xt.to(torch::kFloat64) - a.sqrt() * x0_.to(torch::kFloat64)) / (1 - a).sqrt();
    return (eps + offset_).to(torch::kFloat32);
  }
  size_t num_models() const override { return 1; }
  std::string name() const override { return "oracle"; }

 private:
  torch::Tensor x0_, ac_;
  double offset_;
};

struct TinyCase {
  pipeline::StableDiffusion model = test::load_tiny("A-folder");
  schedulers::DDPMScheduler ddpm{model.scheduler_config};
  torch::Tensor x0 = torch::randn({1, 4, 8, 8}, pipeline::make_cpu_generator(3));
  torch::Tensor context() {
    pipeline::GenerateOptions o;
    o.prompts = {"a red circle"};
    o.cfg_scale = 1.0;
    return pipeline::encode_prompts({&model}, o)[0];
  }
};

}  // namespace

TEST(RegionWins, WinnersCountExactTiesAsTies) {
  auto e = torch::tensor({1.0, 2.0, 3.0, 2.0, 2.0, 3.0, 0.0, 0.0, 0.0, 5.0, 4.0, 4.5}).reshape({4, 3});
  auto w = analysis::winners(e);
  EXPECT_EQ(w[0].item<int64_t>(), 0);
  EXPECT_EQ(w[1].item<int64_t>(), 3);  // 2 = 2 < 3: a tie, not model 0
  EXPECT_EQ(w[2].item<int64_t>(), 3);
  EXPECT_EQ(w[3].item<int64_t>(), 1);
}

TEST(RegionWins, IdenticalModelsOnlyTie) {
  TinyCase s;
  pipeline::SingleUNet a(s.model.unet), b(s.model.unet);
  const auto ctx = s.context();
  analysis::RegionWinsOptions o;
  o.timesteps = {100, 700};
  o.samples = 3;
  const auto r = analysis::region_wins({{"a", &a, {ctx}}, {"b", &b, {ctx}}}, s.ddpm, s.x0, o);
  EXPECT_TRUE(torch::equal(r.wins.select(-1, 2), torch::ones({2, 4, 4}, torch::kFloat64)));
  EXPECT_EQ(r.image_wins.select(-1, 2).sum().item<double>(), 2.0);
}

TEST(RegionWins, AWorsePredictorNeverWinsAndFractionsSumToOne) {
  TinyCase s;
  Oracle best(s.x0, s.ddpm.alphas_cumprod(), 0.0), worse(s.x0, s.ddpm.alphas_cumprod(), 0.05);
  pipeline::SingleUNet unet(s.model.unet);
  const auto ctx = s.context();
  analysis::RegionWinsOptions o;
  o.timesteps = {50, 500, 950};
  o.samples = 4;
  o.seed = 7;
  const std::vector<analysis::Contender> c = {{"unet", &unet, {ctx}}, {"worse", &worse, {ctx}}, {"best", &best, {ctx}}};
  const auto r = analysis::region_wins(c, s.ddpm, s.x0, o);
  EXPECT_EQ(r.wins.select(-1, 1).max().item<double>(), 0.0);        // the worse oracle never wins
  EXPECT_EQ(r.wins.select(-1, 2).min().item<double>(), 1.0);        // the exact one always does
  EXPECT_TRUE(torch::allclose(r.wins.sum(-1), torch::ones({3, 4, 4}, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(r.image_wins.sum(-1), torch::ones({3}, torch::kFloat64)));
  // Errors: the exact oracle's are ~0, the offset one's 0.05^2.
  EXPECT_LT(r.errors.select(-1, 2).max().item<double>(), 1e-9);
  EXPECT_NEAR(r.errors.select(-1, 1).mean().item<double>(), 0.0025, 1e-6);

  // The same seed gives the same JSON; another seed draws other noises.
  const auto again = analysis::region_wins(c, s.ddpm, s.x0, o);
  EXPECT_EQ(analysis::analysis_json(r, {}).dump(), analysis::analysis_json(again, {}).dump());
  o.seed = 8;
  EXPECT_FALSE(torch::equal(analysis::region_wins(c, s.ddpm, s.x0, o).errors, r.errors));
}

TEST(RegionWins, BadPatchOrTimestepsAreNamed) {
  TinyCase s;
  pipeline::SingleUNet a(s.model.unet);
  analysis::RegionWinsOptions o;
  o.patch = 3;
  EXPECT_NE(test::error_of([&] { analysis::region_wins({{"a", &a, {s.context()}}}, s.ddpm, s.x0, o); }).find("--patch"),
            std::string::npos);
  o.patch = 2;
  o.timesteps = {1000};
  EXPECT_NE(test::error_of([&] { analysis::region_wins({{"a", &a, {s.context()}}}, s.ddpm, s.x0, o); }).find("--timesteps"),
            std::string::npos);
}
