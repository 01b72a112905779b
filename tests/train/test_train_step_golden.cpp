// One training step against the official train.py (../shared/golden/afa/train_step_*): the loss of the
// ensemble with the A, B, C U-Nets, the aggregators' gradients and the parameters after one AdamW step,
// with the perturbed aggregators and with their zero-initialised variant.
#include <gtest/gtest.h>

#include <map>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/aggregators.h"
#include "afa/io/safetensors.h"
#include "afa/schedulers/ddpm.h"
#include "afa/train/adamw.h"
#include "afa/train/denoising_loss.h"
#include "golden.h"
#include "golden_aggregators.h"
#include "tiny_models.h"

namespace afa::test {
namespace {

std::vector<models::UNet2DConditionModel> trio_unets() {
  static std::vector<pipeline::StableDiffusion> sds = [] {
    std::vector<pipeline::StableDiffusion> v;
    for (const char* m : {"A", "B", "C"}) v.push_back(load_tiny(m, false));
    return v;
  }();
  std::vector<models::UNet2DConditionModel> u;
  for (const auto& s : sds) u.push_back(s.unet);
  return u;
}

void check_step(const std::string& file, ensemble::AggregatorSet set) {
  const std::string path = golden(file);
  io::SafeTensorsFile f(path);
  auto io = f.all();
  auto sched_cfg = schedulers::SchedulerConfig::from_json(nlohmann::json::parse(f.metadata().at("train_scheduler")));
  schedulers::DDPMScheduler ddpm(sched_cfg);

  const auto& x0 = io.at("x0");
  const auto& noise = io.at("noise");
  const auto& t = io.at("timesteps");
  EXPECT_TRUE(AllClose(ddpm.add_noise(x0, noise, t), io.at("noisy_latents"), 1e-6)) << file;
  std::vector<torch::Tensor> contexts;
  for (int64_t m = 0; m < io.at("encoder_hidden_states").size(0); ++m)
    contexts.push_back(io.at("encoder_hidden_states")[m]);

  set.train(true);
  auto named = set.named_parameters();
  for (auto& p : named) p.second.set_requires_grad(true);
  std::map<std::string, torch::Tensor> by_name(named.begin(), named.end());
  auto unets = trio_unets();
  ensemble::AfaEnsemble afa(unets, std::move(set), file);

  {
    torch::NoGradGuard ng;
    auto pred = afa.predict(io.at("noisy_latents"), t, contexts);
    EXPECT_TRUE(AllClose(pred, io.at("noise_pred"), 2e-5)) << file << " noise_pred";
  }
  auto per_sample = train::per_sample_denoising_loss(afa, ddpm, x0, noise, t, contexts);
  auto loss = per_sample.mean();
  const double expected_loss = io.at("loss").item<double>();
  EXPECT_NEAR(loss.item<double>(), expected_loss, 1e-5 * std::abs(expected_loss)) << file;
  std::cerr << file << ": loss " << loss.item<double>() << " vs " << expected_loss << " (rel "
            << std::abs(loss.item<double>() - expected_loss) / expected_loss << ")\n";
  loss.backward();

  // The frozen U-Nets get no gradients.
  for (const auto& u : unets)
    for (const auto& p : u->parameters()) ASSERT_FALSE(p.grad().defined());

  int n_grads = 0, n_after = 0;
  double worst_grad = 0, worst_big = 0, worst_small = 0;
  for (const auto& [key, g] : io) {
    if (key.rfind("grad.", 0) != 0) continue;
    const std::string name = key.substr(5);
    ASSERT_TRUE(by_name.count(name)) << "no parameter " << name;
    const auto& got = by_name.at(name).grad();
    ASSERT_TRUE(got.defined()) << name << " has no gradient";
    EXPECT_TRUE(AllClose(got, g, 3e-6)) << file << " " << key;
    worst_grad = std::max(worst_grad, max_abs_diff(got, g));
    ++n_grads;
  }
  train::AdamW opt(named, train::AdamWOptions{});  // lr 1e-4, wd 0.01, betas 0.9/0.999, eps 1e-8
  opt.step(train::warmup_lr(1e-4, 0, 0));
  for (const auto& [key, want] : io) {
    if (key.rfind("after.", 0) != 0) continue;
    const std::string name = key.substr(6);
    ASSERT_TRUE(by_name.count(name)) << "no parameter " << name;
    const auto got = by_name.at(name).detach().to(torch::kFloat64);
    const auto diff = (got - want.to(torch::kFloat64)).abs();
    // atol 1e-6 where the golden gradient is >= 1e-6, else 2e-4 (AdamW's first step is about lr*sign(grad),
    // whose sign is noise for gradients at rounding level).
    auto big = io.count("grad." + name) ? io.at("grad." + name).abs().ge(1e-6)
                                        : torch::ones_like(got, torch::kBool);
    const double d_big = big.any().item<bool>() ? diff.masked_select(big).max().item<double>() : 0.0;
    const double d_small = big.logical_not().any().item<bool>() ? diff.masked_select(big.logical_not()).max().item<double>() : 0.0;
    EXPECT_LE(d_big, 1e-6) << file << " " << key;
    EXPECT_LE(d_small, 2e-4) << file << " " << key;
    worst_big = std::max(worst_big, d_big);
    worst_small = std::max(worst_small, d_small);
    ++n_after;
  }
  std::cerr << file << ": " << n_grads << " gradients, max diff " << worst_grad << "; " << n_after
            << " updated parameters, max diff " << worst_big << " (|grad| >= 1e-6), " << worst_small << " (below)\n";
  EXPECT_GT(n_grads, 0);
  EXPECT_EQ(n_grads, n_after);
  // Parameters without a saved gradient still took the step (decay at least) and none became NaN.
  for (const auto& [n, p] : named) EXPECT_TRUE(torch::isfinite(p).all().item<bool>()) << n;
}

TEST(TrainStepGolden, PerturbedAggregators) {
  check_step("afa/train_step_perturbed_io.safetensors", perturbed_aggregators());
}

TEST(TrainStepGolden, ZeroInitAggregators) {
  check_step("afa/train_step_zero_init_io.safetensors", zero_init_aggregators());
}

}  // namespace
}  // namespace afa::test

namespace afa::test {
namespace {

// Data parallelism relies on it: the gradient of a batch is the sum of its samples' gradients.
TEST(TrainStepGolden, BatchGradientIsTheSumOfPerSampleGradients) {
  const std::string path = golden("afa/train_step_perturbed_io.safetensors");
  io::SafeTensorsFile f(path);
  auto io = f.all();
  schedulers::DDPMScheduler ddpm(
      schedulers::SchedulerConfig::from_json(nlohmann::json::parse(f.metadata().at("train_scheduler"))));
  auto set = perturbed_aggregators();
  set.train(true);
  auto params = set.parameters();
  for (auto& p : params) p.set_requires_grad(true);
  ensemble::AfaEnsemble afa(trio_unets(), std::move(set), path);
  auto run = [&](int64_t begin, int64_t len) {
    std::vector<torch::Tensor> ctx;
    for (int64_t m = 0; m < 3; ++m) ctx.push_back(io.at("encoder_hidden_states")[m].narrow(0, begin, len));
    auto per = train::per_sample_denoising_loss(afa, ddpm, io.at("x0").narrow(0, begin, len),
                                                io.at("noise").narrow(0, begin, len),
                                                io.at("timesteps").narrow(0, begin, len), ctx);
    per.sum().backward();
    std::vector<torch::Tensor> g;
    for (auto& p : params) {
      g.push_back(p.grad().clone());
      p.mutable_grad() = torch::Tensor();
    }
    return std::make_pair(per.detach(), g);
  };
  auto [both, g_both] = run(0, 2);
  auto [first, g_first] = run(0, 1);
  auto [second, g_second] = run(1, 1);
  // Other matrix shapes, other summation orders: ~8 ulps of losses near 1 allowed, relative.
  EXPECT_TRUE(AllClose(torch::cat({first, second}), both, 1e-5 * both.abs().max().item<double>()));
  double worst = 0, scale = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    worst = std::max(worst, max_abs_diff(g_first[i] + g_second[i], g_both[i]));
    scale = std::max(scale, g_both[i].abs().max().item<double>());
  }
  std::cerr << "max |g(a) + g(b) - g(a, b)| = " << worst << " (max |g| " << scale << ")\n";
  EXPECT_LT(worst, 3e-6);  // the golden's gradient tolerance (float32 sums in another order)
}

}  // namespace
}  // namespace afa::test
