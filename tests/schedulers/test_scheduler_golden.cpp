// Golden tests: every scheduler against diffusers v0.20.2 (../shared/golden/schedulers, README section 4).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <regex>

#include "afa/schedulers/ddpm.h"
#include "afa/schedulers/euler.h"
#include "afa/schedulers/euler_ancestral.h"
#include "afa/schedulers/lms.h"
#include "afa/schedulers/scheduler.h"
#include "golden.h"

namespace afa::test {
namespace {

using schedulers::SchedulerConfig;

const nlohmann::json& configs() {
  static const nlohmann::json j = [] {
    std::ifstream in(golden("schedulers/configs.json"));
    nlohmann::json r;
    in >> r;
    return r;
  }();
  return j;
}

double max_rel(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / b.abs().max().item<double>();
}

// Worst observed relative error per case, printed at the end of the run.
std::map<std::string, std::pair<double, double>>& worst() {
  static std::map<std::string, std::pair<double, double>> w;
  return w;
}

struct Case {
  std::string file, name;  // golden file stem, afa scheduler name
  int n;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

std::string PrintCase(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.file;
  for (char& c : s)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class SchedulerGolden : public ::testing::TestWithParam<Case> {};

TEST_P(SchedulerGolden, MatchesDiffusers) {
  const Case& c = GetParam();
  io::SafeTensorsFile f(golden("schedulers/" + c.file + ".safetensors"));
  const nlohmann::json& entry = configs().at(c.file);
  SchedulerConfig cfg = SchedulerConfig::from_json(entry.at("config"));
  auto sched = schedulers::make_scheduler(c.name, cfg);
  sched->set_timesteps(c.n);

  // Timesteps: integers exactly, floats to rtol 1e-6 (we get them exactly).
  torch::Tensor ts_ref = f.get("timesteps");
  const torch::Tensor& ts = sched->timesteps();
  ASSERT_EQ(ts.scalar_type(), ts_ref.scalar_type());
  ASSERT_EQ(ts.sizes(), ts_ref.sizes());
  if (ts_ref.scalar_type() == torch::kLong) {
    EXPECT_TRUE(torch::equal(ts, ts_ref)) << ts << "\nvs\n" << ts_ref;
  } else {
    EXPECT_TRUE(torch::allclose(ts, ts_ref, 1e-6, 0)) << ts << "\nvs\n" << ts_ref;
    EXPECT_TRUE(torch::equal(ts, ts_ref)) << "float timesteps not bit-exact (within tolerance, though)";
  }
  if (f.contains("sigmas")) {
    torch::Tensor sig_ref = f.get("sigmas");
    torch::Tensor sig;
    if (c.name == "euler") sig = dynamic_cast<schedulers::EulerDiscreteScheduler&>(*sched).sigmas();
    else if (c.name == "euler_a") sig = dynamic_cast<schedulers::EulerAncestralDiscreteScheduler&>(*sched).sigmas();
    else sig = dynamic_cast<schedulers::LMSDiscreteScheduler&>(*sched).sigmas();
    ASSERT_EQ(sig.sizes(), sig_ref.sizes());
    // float32 linspace restarts its base every vector width (8 lanes AVX2, 16 AVX-512): ulps apart by CPU.
    EXPECT_TRUE(torch::allclose(sig, sig_ref, 1e-6, 0)) << sig << "\nvs\n" << sig_ref;
  }
  const double sigma_ref = f.get("init_noise_sigma").item<double>();
  EXPECT_NEAR(sched->init_noise_sigma(), sigma_ref, 1e-6 * sigma_ref);

  torch::Tensor x_init = f.get("x_init");
  torch::Tensor model_outputs = f.get("model_outputs");
  torch::Tensor scaled_ref = f.get("scaled_inputs");
  torch::Tensor prev_ref = f.get("prev_samples");
  torch::Tensor noises = f.contains("noises") ? f.get("noises") : torch::Tensor();

  torch::Tensor sample = x_init * sched->init_noise_sigma();
  EXPECT_TRUE(AllClose(sample, f.get("sample_0"), 1e-6 * f.get("sample_0").abs().max().item<double>()));

  c10::optional<at::Generator> gen;
  if (entry.at("step_kwargs").contains("generator")) {
    std::smatch m;
    const std::string g = entry.at("step_kwargs").at("generator").get<std::string>();
    ASSERT_TRUE(std::regex_search(g, m, std::regex("manual_seed\\((\\d+)\\)")));
    const uint64_t seed = std::stoull(m[1]);
    gen = at::detail::createCPUGenerator(seed);
    // The generator draws what diffusers drew: one randn(shape) per step.
    at::Generator check = at::detail::createCPUGenerator(seed);
    for (int64_t i = 0; i < noises.size(0); ++i) {
      torch::Tensor d = torch::randn(x_init.sizes(), check);
      // An ulp or two by CPU (see tests/pipeline/test_text_to_image.cpp).
      EXPECT_TRUE(AllClose(d, noises[i], 4 * 1.2e-7 * noises[i].abs().max().item<double>()))
          << "generator draw " << i << " differs";
    }
  }

  double worst_scaled = 0, worst_prev = 0;
  const int64_t steps = sched->num_steps();
  ASSERT_EQ(steps, model_outputs.size(0));
  for (int64_t i = 0; i < steps; ++i) {
    torch::Tensor in = sched->scale_model_input(sample, i);
    const double tol_in = 1e-5 * scaled_ref[i].abs().max().item<double>() + 1e-6;
    EXPECT_TRUE(AllClose(in, scaled_ref[i], tol_in)) << "scaled_inputs[" << i << "]";
    worst_scaled = std::max(worst_scaled, max_rel(in, scaled_ref[i]));
    sample = sched->step(model_outputs[i], i, sample, gen);
    const double tol = 1e-5 * prev_ref[i].abs().max().item<double>() + 1e-6;
    EXPECT_TRUE(AllClose(sample, prev_ref[i], tol)) << "prev_samples[" << i << "]";
    worst_prev = std::max(worst_prev, max_rel(sample, prev_ref[i]));
    // Continue from the reference so one early miss does not cascade (the errors are still reported).
    sample = prev_ref[i].clone();
  }
  worst()[c.file] = {worst_scaled, worst_prev};
  RecordProperty("worst_rel_prev_sample", std::to_string(worst_prev));
  std::printf("[ %-14s ] worst rel err: scaled_inputs %.3g, prev_samples %.3g\n", c.file.c_str(), worst_scaled,
              worst_prev);
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  const std::pair<const char*, const char*> kinds[] = {{"ddim", "ddim"},   {"pndm", "pndm"},       {"dpmpp_2m", "dpm++2m"},
                                                       {"euler", "euler"}, {"euler_a", "euler_a"}, {"lms", "lms"}};
  for (auto [file, name] : kinds)
    for (int n : {10, 20, 50}) v.push_back({std::string(file) + "_" + std::to_string(n), name, n});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, SchedulerGolden, ::testing::ValuesIn(all_cases()), PrintCase);

// Free-running variant: no resynchronisation with the reference, so errors accumulate as in a real run.
TEST(SchedulerGoldenFreeRun, AllWithinTolerance) {
  for (const Case& c : all_cases()) {
    io::SafeTensorsFile f(golden("schedulers/" + c.file + ".safetensors"));
    const nlohmann::json& entry = configs().at(c.file);
    auto sched = schedulers::make_scheduler(c.name, SchedulerConfig::from_json(entry.at("config")));
    sched->set_timesteps(c.n);
    c10::optional<at::Generator> gen;
    if (entry.at("step_kwargs").contains("generator")) {
      std::smatch m;
      const std::string g = entry.at("step_kwargs").at("generator").get<std::string>();
      ASSERT_TRUE(std::regex_search(g, m, std::regex("manual_seed\\((\\d+)\\)")));
      gen = at::detail::createCPUGenerator(std::stoull(m[1]));
    }
    torch::Tensor mo = f.get("model_outputs"), prev_ref = f.get("prev_samples");
    torch::Tensor sample;
    double worst_rel = 0;
    sample = f.get("x_init") * sched->init_noise_sigma();
    for (int64_t i = 0; i < sched->num_steps(); ++i) {
      (void)sched->scale_model_input(sample, i);
      sample = sched->step(mo[i], i, sample, gen);
      const double tol = 1e-5 * prev_ref[i].abs().max().item<double>() + 1e-6;
      EXPECT_TRUE(AllClose(sample, prev_ref[i], tol)) << c.file << " prev_samples[" << i << "]";
      worst_rel = std::max(worst_rel, max_rel(sample, prev_ref[i]));
    }
    std::printf("[ %-14s ] free-running worst rel err of prev_samples %.3g\n", c.file.c_str(), worst_rel);
  }
}

TEST(DDPM, AddNoiseMatchesDiffusers) {
  io::SafeTensorsFile f(golden("schedulers/ddpm_add_noise.safetensors"));
  SchedulerConfig cfg = SchedulerConfig::from_json(configs().at("ddpm_add_noise").at("config"));
  schedulers::DDPMScheduler ddpm(cfg);
  EXPECT_TRUE(torch::allclose(ddpm.alphas_cumprod(), f.get("alphas_cumprod"), 1e-6, 0));
  torch::Tensor noisy = ddpm.add_noise(f.get("x0"), f.get("noise"), f.get("timesteps"));
  EXPECT_TRUE(AllClose(noisy, f.get("noisy"), 1e-6));
  std::printf("[ ddpm_add_noise ] max abs err %.3g (alphas_cumprod max abs err %.3g)\n",
              max_abs_diff(noisy, f.get("noisy")), max_abs_diff(ddpm.alphas_cumprod(), f.get("alphas_cumprod")));
  // The AFA training scheduler as train.py builds it: the same numbers from the bare constructor arguments.
  SchedulerConfig afa_cfg;
  afa_cfg.beta_start = 0.00085;
  afa_cfg.beta_end = 0.012;
  afa_cfg.beta_schedule = "scaled_linear";
  schedulers::DDPMScheduler ddpm2(afa_cfg);
  EXPECT_TRUE(torch::equal(ddpm2.add_noise(f.get("x0"), f.get("noise"), f.get("timesteps")), noisy));
}

}  // namespace
}  // namespace afa::test
