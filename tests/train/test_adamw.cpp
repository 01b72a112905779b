// AdamW (torch 1.13 semantics), its state round trip, the warm-up schedule and gradient clipping.
#include <gtest/gtest.h>

#include <cmath>

#include "afa/train/adamw.h"
#include "afa/util/error.h"

namespace afa::test {
namespace {

using train::AdamW;
using train::AdamWOptions;

TEST(AdamW, MatchesTheFormulaOverTwoSteps) {
  auto p = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64).requires_grad_(true);
  AdamWOptions o;
  o.lr = 0.1;
  o.weight_decay = 0.01;
  AdamW opt({{"p", p}}, o);
  const double g1[] = {0.3, -0.2, 0.0}, g2[] = {-0.1, 0.4, 1e-3};
  double x[] = {1.0, -2.0, 0.5}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  for (int step = 1; step <= 2; ++step) {
    const double* g = step == 1 ? g1 : g2;
    p.mutable_grad() = torch::tensor({g[0], g[1], g[2]}, torch::kFloat64);
    opt.step(o.lr);
    for (int i = 0; i < 3; ++i) {
      x[i] *= 1 - o.lr * o.weight_decay;
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      const double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, step)) + 1e-8;
      x[i] -= o.lr / (1 - std::pow(0.9, step)) * m[i] / denom;
      EXPECT_NEAR(p[i].item<double>(), x[i], 1e-12) << "step " << step << " element " << i;
    }
  }
}

TEST(AdamW, SkipsParametersWithoutGradientAndRoundTripsItsState) {
  auto a = torch::ones({2}, torch::kFloat32).requires_grad_(true);
  auto b = torch::ones({2}, torch::kFloat32).requires_grad_(true);
  AdamW opt({{"a", a}, {"b", b}}, AdamWOptions{});
  a.mutable_grad() = torch::tensor({0.5f, -0.5f});
  opt.step(1e-3);
  EXPECT_TRUE(torch::equal(b, torch::ones({2})));  // no gradient: no decay, no state
  auto st = opt.state_dict();
  EXPECT_EQ(st.size(), 3u);
  EXPECT_EQ(st.at("a.step").item<int64_t>(), 1);

  // A copy restored from the state takes exactly the same next step.
  auto a2 = a.detach().clone().requires_grad_(true), b2 = b.detach().clone().requires_grad_(true);
  AdamW opt2({{"a", a2}, {"b", b2}}, AdamWOptions{});
  opt2.load_state_dict(st, "state");
  for (auto* pair : {&a, &a2}) pair->mutable_grad() = torch::tensor({0.1f, 0.2f});
  for (auto* pair : {&b, &b2}) pair->mutable_grad() = torch::tensor({-0.3f, 0.3f});
  opt.step(1e-3);
  opt2.step(1e-3);
  EXPECT_TRUE(torch::equal(a, a2));
  EXPECT_TRUE(torch::equal(b, b2));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());

  auto bad = st;
  bad["c.step"] = torch::tensor(int64_t(1));
  EXPECT_THROW(opt2.load_state_dict(bad, "state"), afa::Error);
  bad = st;
  bad["a.exp_avg"] = torch::zeros({3});
  EXPECT_THROW(opt2.load_state_dict(bad, "state"), afa::Error);
}

TEST(AdamW, WarmupIsDiffusersConstantWithWarmup) {
  EXPECT_EQ(train::warmup_lr(1e-4, 0, 0), 1e-4);  // no warm-up: the golden step's lr
  EXPECT_EQ(train::warmup_lr(1e-4, 0, 100), 0.0);
  EXPECT_DOUBLE_EQ(train::warmup_lr(1e-4, 50, 100), 5e-5);
  EXPECT_EQ(train::warmup_lr(1e-4, 100, 100), 1e-4);
  EXPECT_EQ(train::warmup_lr(1e-4, 1000, 100), 1e-4);
}

// Values of diffusers' get_cosine_schedule_with_warmup / get_linear_schedule_with_warmup (LambdaLR factors
// times lr) for warm-up 10 of 110 steps.
TEST(AdamW, CosineAndLinearSchedulesAreDiffusers) {
  const double lr = 1e-3;
  for (const char* s : {"constant", "cosine", "linear"}) {
    EXPECT_EQ(train::scheduled_lr(s, lr, 0, 10, 110), 0.0) << s;
    EXPECT_DOUBLE_EQ(train::scheduled_lr(s, lr, 5, 10, 110), 5e-4) << s;
    EXPECT_DOUBLE_EQ(train::scheduled_lr(s, lr, 10, 10, 110), lr) << s;
  }
  EXPECT_DOUBLE_EQ(train::scheduled_lr("constant", lr, 109, 10, 110), lr);
  EXPECT_NEAR(train::scheduled_lr("cosine", lr, 35, 10, 110), lr * 0.8535533905932737, 1e-15);
  EXPECT_NEAR(train::scheduled_lr("cosine", lr, 60, 10, 110), lr * 0.5, 1e-15);
  EXPECT_NEAR(train::scheduled_lr("cosine", lr, 110, 10, 110), 0.0, 1e-18);
  EXPECT_DOUBLE_EQ(train::scheduled_lr("linear", lr, 60, 10, 110), lr * 0.5);
  EXPECT_DOUBLE_EQ(train::scheduled_lr("linear", lr, 109, 10, 110), lr * 0.01);
  EXPECT_EQ(train::scheduled_lr("linear", lr, 200, 10, 110), 0.0);  // past the end: 0, never negative
  EXPECT_THROW(train::scheduled_lr("cosine_with_restarts", lr, 50, 10, 110), afa::Error);
}

TEST(AdamW, ClipGradNormLikeTorch) {
  auto p = torch::zeros({2}).requires_grad_(true), q = torch::zeros({1}).requires_grad_(true);
  p.mutable_grad() = torch::tensor({3.0f, 0.0f});
  q.mutable_grad() = torch::tensor({4.0f});
  EXPECT_NEAR(train::clip_grad_norm({p, q}, 0), 5.0, 1e-6);  // 0: measure only
  EXPECT_FLOAT_EQ(q.grad()[0].item<float>(), 4.0f);
  EXPECT_NEAR(train::clip_grad_norm({p, q}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(p.grad()[0].item<float>(), 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(q.grad()[0].item<float>(), 4.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(train::clip_grad_norm({p, q}, 10.0), 1.0, 1e-5);  // below the limit: unchanged
  EXPECT_NEAR(q.grad()[0].item<float>(), 0.8, 1e-5);
}

}  // namespace
}  // namespace afa::test
