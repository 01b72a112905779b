// SchedulerConfig parsing, bad configs, and behaviour that the golden files do not cover.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "afa/schedulers/ddim.h"
#include "afa/schedulers/ddpm.h"
#include "afa/schedulers/dpm_solver_multistep.h"
#include "afa/schedulers/euler.h"
#include "afa/schedulers/lms.h"
#include "afa/schedulers/numpy_compat.h"
#include "afa/schedulers/pndm.h"
#include "afa/schedulers/scheduler.h"
#include "afa/util/error.h"
#include "test_util.h"

namespace afa::schedulers {
namespace {

using nlohmann::json;
using afa::test::error_of;

// SD 1.5's scheduler/scheduler_config.json.
json sd15() {
  return json::parse(R"({
    "_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
    "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null,
    "clip_sample": false})");
}

TEST(SchedulerConfig, ParsesSd15) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  EXPECT_EQ(c.num_train_timesteps, 1000);
  EXPECT_EQ(c.beta_schedule, "scaled_linear");
  EXPECT_DOUBLE_EQ(c.beta_start, 0.00085);
  EXPECT_EQ(c.steps_offset, 1);
  EXPECT_EQ(c.set_alpha_to_one, false);
  EXPECT_EQ(c.clip_sample, false);
  EXPECT_TRUE(c.skip_prk_steps);
  EXPECT_FALSE(c.trained_betas.has_value());
  EXPECT_FALSE(c.timestep_spacing.has_value());  // each class applies its own default
}

TEST(SchedulerConfig, UseDefaultValuesAreDropped) {
  json j = sd15();
  j["timestep_spacing"] = "leading";
  j["_use_default_values"] = {"timestep_spacing"};
  SchedulerConfig c = SchedulerConfig::from_json(j);
  EXPECT_FALSE(c.timestep_spacing.has_value());
  // ...so DPM gets linspace and DDIM leading.
  DPMSolverMultistepScheduler dpm(c);
  dpm.set_timesteps(10);
  EXPECT_EQ(dpm.timesteps()[0].item<int64_t>(), 999);
  DDIMScheduler ddim(c);
  ddim.set_timesteps(10);
  EXPECT_EQ(ddim.timesteps()[0].item<int64_t>(), 901);
}

TEST(SchedulerConfig, LambdaMinClippedAsString) {
  json j = sd15();
  j["lambda_min_clipped"] = "-inf";
  EXPECT_TRUE(std::isinf(SchedulerConfig::from_json(j).lambda_min_clipped));
  j["lambda_min_clipped"] = -5.1;
  EXPECT_DOUBLE_EQ(SchedulerConfig::from_json(j).lambda_min_clipped, -5.1);
}

TEST(SchedulerConfig, BadConfigsAreErrors) {
  auto bad = [](const char* key, json value) {
    json j = sd15();
    j[key] = value;
    return error_of([&] { SchedulerConfig::from_json(j); });
  };
  EXPECT_NE(bad("beta_schedule", "cosine").find("beta_schedule 'cosine'"), std::string::npos);
  EXPECT_NE(bad("prediction_type", "x0").find("prediction_type 'x0'"), std::string::npos);
  EXPECT_NE(bad("timestep_spacing", "uniform").find("timestep_spacing"), std::string::npos);
  EXPECT_NE(bad("num_train_timesteps", "1000").find("num_train_timesteps"), std::string::npos);
  EXPECT_NE(bad("num_train_timesteps", 1).find("num_train_timesteps"), std::string::npos);
  EXPECT_NE(bad("beta_start", -0.1).find("beta_start"), std::string::npos);
  EXPECT_NE(bad("clip_sample", "no").find("clip_sample"), std::string::npos);
  EXPECT_NE(bad("trained_betas", json::array({0.1, 0.2})).find("trained_betas"), std::string::npos);
  EXPECT_NE(bad("algorithm_type", "unipc").find("algorithm_type"), std::string::npos);
  EXPECT_NE(bad("solver_order", 4).find("solver_order"), std::string::npos);
  EXPECT_NE(bad("variance_type", "big").find("variance_type"), std::string::npos);
  EXPECT_NE(bad("interpolation_type", "cubic").find("interpolation_type"), std::string::npos);
  EXPECT_NE(error_of([] { SchedulerConfig::from_json(json::array()); }).find("JSON object"), std::string::npos);
  EXPECT_NE(error_of([] { SchedulerConfig::from_file("/nonexistent/scheduler_config.json"); }).find("cannot open"),
            std::string::npos);
}

TEST(SchedulerConfig, UnsupportedCombinationsAreErrors) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  c.prediction_type = "sample";
  EXPECT_NE(error_of([&] { PNDMScheduler p(c); }).find("prediction_type"), std::string::npos);
  EXPECT_NE(error_of([&] { make_scheduler("euler_a", c); }).find("prediction_type"), std::string::npos);
  SchedulerConfig s = SchedulerConfig::from_json(sd15());
  s.beta_schedule = "sigmoid";
  EXPECT_NE(error_of([&] { DDIMScheduler d(s); }).find("sigmoid"), std::string::npos);
  EXPECT_NO_THROW(DDPMScheduler d(s));
  EXPECT_NE(error_of([&] { make_scheduler("heun", SchedulerConfig{}); }).find("unknown scheduler"), std::string::npos);
}

TEST(Scheduler, StepsNeedSetTimestepsAndOrder) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  for (const char* name : {"ddim", "pndm", "dpm++2m", "euler", "euler_a", "lms"}) {
    auto s = make_scheduler(name, c);
    torch::Tensor x = torch::zeros({1, 4, 2, 2});
    EXPECT_EQ(s->num_steps(), 0) << name;
    EXPECT_THROW(s->timestep(0), Error) << name;
    EXPECT_THROW(s->step(x, 0, x), Error) << name;
    EXPECT_THROW(s->set_timesteps(0), Error) << name;
    s->set_timesteps(5);
    EXPECT_THROW(s->scale_model_input(x, s->num_steps()), Error) << name;
    EXPECT_THROW(s->timestep(-1), Error) << name;
    EXPECT_EQ(s->name(), name);
  }
  auto pndm = make_scheduler("pndm", c);
  pndm->set_timesteps(5);
  EXPECT_EQ(pndm->num_steps(), 6);
  torch::Tensor x = torch::randn({1, 4, 2, 2});
  EXPECT_THROW(pndm->step(x, 1, x), Error);  // multistep schedulers must start at step 0
  EXPECT_NO_THROW(pndm->step(x, 0, x));
  pndm->set_timesteps(5);  // resets the state
  EXPECT_NO_THROW(pndm->step(x, 0, x));
  pndm->set_timesteps(1);  // a single PLMS step, as diffusers allows
  EXPECT_EQ(pndm->num_steps(), 1);
  EXPECT_TRUE(torch::isfinite(pndm->step(x, 0, x)).all().item<bool>());
}

TEST(Scheduler, TimestepSpacings) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  c.timestep_spacing = "trailing";
  DDIMScheduler ddim(c);
  ddim.set_timesteps(3);
  EXPECT_TRUE(torch::equal(ddim.timesteps(), torch::tensor({999, 666, 332}, torch::kLong))) << ddim.timesteps();
  c.timestep_spacing = "linspace";
  DDIMScheduler ddim2(c);
  ddim2.set_timesteps(4);
  EXPECT_TRUE(torch::equal(ddim2.timesteps(), torch::tensor({999, 666, 333, 0}, torch::kLong))) << ddim2.timesteps();
  c.timestep_spacing = "leading";
  EulerDiscreteScheduler e(c);
  e.set_timesteps(4);
  EXPECT_TRUE(torch::equal(e.timesteps(), torch::tensor({751.0, 501.0, 251.0, 1.0}, torch::kFloat64)));
  // leading: init_noise_sigma = sqrt(sigma_max^2 + 1)
  EXPECT_NEAR(e.init_noise_sigma(), std::sqrt(e.sigmas().max().item<double>() * e.sigmas().max().item<double>() + 1), 1e-5);
}

TEST(Scheduler, PndmWithPrkSteps) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  c.skip_prk_steps = false;
  PNDMScheduler p(c);
  p.set_timesteps(10);
  // 12 Runge-Kutta evaluations over the top 4 grid points, then PLMS down to 1.
  std::vector<int64_t> want = {901, 851, 851, 801, 801, 751, 751, 701, 701, 651, 651, 601,
                               601, 501, 401, 301, 201, 101, 1};
  EXPECT_TRUE(torch::equal(p.timesteps(), torch::tensor(want, torch::kLong))) << p.timesteps();
  torch::Tensor x = torch::randn({1, 4, 4, 4});
  torch::Tensor eps = torch::zeros_like(x);
  for (int64_t i = 0; i < p.num_steps(); ++i) x = p.step(eps, i, x);
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
}

TEST(Scheduler, DdimEtaDrawsFromGenerator) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  DDIMScheduler a(c), b(c);
  a.eta = b.eta = 1.0;
  a.set_timesteps(10);
  b.set_timesteps(10);
  torch::Tensor x = torch::randn({1, 4, 4, 4}), eps = torch::randn({1, 4, 4, 4});
  at::Generator g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3);
  torch::Tensor ya = a.step(eps, 2, x, g1), yb = b.step(eps, 2, x, g2);
  EXPECT_TRUE(torch::equal(ya, yb));
  DDIMScheduler d(c);
  d.set_timesteps(10);
  EXPECT_FALSE(torch::equal(ya, d.step(eps, 2, x)));  // eta 0 differs
  // The generator advanced by one randn of the sample's shape.
  at::Generator g3 = at::detail::createCPUGenerator(3);
  (void)torch::randn({1, 4, 4, 4}, g3);
  EXPECT_TRUE(torch::equal(torch::randn({3}, g1), torch::randn({3}, g3)));
}

TEST(Scheduler, DpmOrdersAndVariantsRun) {
  SchedulerConfig c = SchedulerConfig::from_json(sd15());
  for (const char* algo : {"dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver"})
    for (const char* solver : {"midpoint", "heun"})
      for (int order : {1, 2, 3}) {
        if (order == 3 && std::string(algo).rfind("sde", 0) == 0) continue;
        SchedulerConfig d = c;
        d.algorithm_type = algo;
        d.solver_type = solver;
        d.solver_order = order;
        DPMSolverMultistepScheduler s(d);
        s.set_timesteps(20);
        at::Generator g = at::detail::createCPUGenerator(1);
        torch::Tensor x = torch::randn({1, 4, 4, 4});
        for (int64_t i = 0; i < s.num_steps(); ++i) x = s.step(torch::randn({1, 4, 4, 4}) * 0.1, i, x, g);
        EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << algo << " " << solver << " " << order;
      }
  SchedulerConfig k = c;
  k.use_karras_sigmas = true;
  DPMSolverMultistepScheduler s(k);
  s.set_timesteps(10);
  EXPECT_EQ(s.timesteps()[0].item<int64_t>(), 999);
  EXPECT_GE(s.timesteps()[9].item<int64_t>(), 0);
}

TEST(Scheduler, DdpmSamplingAndAddNoise) {
  SchedulerConfig c;
  c.beta_start = 0.00085;
  c.beta_end = 0.012;
  c.beta_schedule = "scaled_linear";
  DDPMScheduler d(c);
  EXPECT_EQ(d.num_steps(), 1000);  // all training timesteps without set_timesteps
  EXPECT_EQ(d.timesteps()[0].item<int64_t>(), 999);
  d.set_timesteps(10);
  EXPECT_EQ(d.timesteps()[0].item<int64_t>(), 900);
  at::Generator g = at::detail::createCPUGenerator(0);
  torch::Tensor x = torch::randn({1, 4, 4, 4});
  for (int64_t i = 0; i < d.num_steps(); ++i) x = d.step(torch::zeros_like(x), i, x, g);
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
  // add_noise at t with ac[t]: a hand computation.
  torch::Tensor x0 = torch::ones({2, 1, 1, 1}), noise = torch::ones({2, 1, 1, 1}) * 2;
  torch::Tensor y = d.add_noise(x0, noise, torch::tensor({0, 999}, torch::kLong));
  const double a0 = d.alphas_cumprod()[0].item<double>(), a999 = d.alphas_cumprod()[999].item<double>();
  EXPECT_NEAR(y[0].item<double>(), std::sqrt(a0) + 2 * std::sqrt(1 - a0), 1e-6);
  EXPECT_NEAR(y[1].item<double>(), std::sqrt(a999) + 2 * std::sqrt(1 - a999), 1e-6);
  EXPECT_THROW(d.add_noise(x0, noise, torch::tensor({0, 1000}, torch::kLong)), Error);
}

TEST(Scheduler, BetaSchedules) {
  SchedulerConfig c;
  c.beta_schedule = "squaredcos_cap_v2";
  BetaSchedule s = make_beta_schedule(c, "test");
  EXPECT_EQ(s.betas.scalar_type(), torch::kFloat32);
  EXPECT_LE(s.betas.max().item<double>(), 0.999 + 1e-7);
  c.rescale_betas_zero_snr = true;
  c.beta_schedule = "scaled_linear";
  DDIMScheduler d(c);
  EXPECT_NEAR(d.alphas_cumprod()[999].item<double>(), 0.0, 1e-12);  // zero terminal SNR
  c.trained_betas = std::vector<double>(1000, 0.01);
  c.rescale_betas_zero_snr = false;
  BetaSchedule t = make_beta_schedule(c, "test");
  EXPECT_FLOAT_EQ(t.betas[5].item<float>(), 0.01f);
}

TEST(NumpyCompat, MatchesNumpyConventions) {
  EXPECT_EQ(np::round(0.5), 0.0);
  EXPECT_EQ(np::round(1.5), 2.0);
  EXPECT_EQ(np::round(2.5), 2.0);
  auto l = np::linspace(0, 999, 10);
  EXPECT_EQ(l[9], 999.0);
  EXPECT_EQ(l[1], 111.0);
  auto a = np::arange(1000, 0, -1000.0 / 3);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0], 1000.0);
  auto y = np::interp({0.5, 1.0, 5.0, -1.0}, {0, 1, 2}, {0, 10, 20});
  EXPECT_EQ(y[0], 5.0);
  EXPECT_EQ(y[1], 10.0);
  EXPECT_EQ(y[2], 20.0);
  EXPECT_EQ(y[3], 0.0);
  // The Gauss-Kronrod rule integrates polynomials exactly.
  EXPECT_NEAR(np::quad([](double x) { return x * x * x - 2 * x; }, 0.3, 2.0), (16.0 / 4 - 4) - (0.0081 / 4 - 0.09),
              1e-13);
  EXPECT_NEAR(np::quad([](double x) { return std::exp(x); }, 0.0, 1.0), std::exp(1.0) - 1, 1e-10);
}

TEST(Scheduler, LmsCoefficientsIntegrateLagrangeBasis) {
  LMSDiscreteScheduler s(SchedulerConfig::from_json(sd15()));
  s.set_timesteps(10);
  // The basis polynomials sum to 1, so the coefficients sum to sigma[t+1] - sigma[t].
  for (int64_t t = 3; t < 10; ++t) {
    double sum = 0;
    for (int64_t k = 0; k < 4; ++k) sum += s.lms_coefficient(4, t, k);
    const double want = s.sigmas()[t + 1].item<double>() - s.sigmas()[t].item<double>();
    EXPECT_NEAR(sum, want, 1e-5 * std::abs(want) + 1e-7) << t;
  }
}

}  // namespace
}  // namespace afa::schedulers
