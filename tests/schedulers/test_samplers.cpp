// The sampler table: every row makes its class, names resolve from CLI names, aliases, diffusers classes
// and A1111 labels, and options reach only the samplers that take them.
#include <gtest/gtest.h>

#include "afa/schedulers/ddim.h"
#include "afa/schedulers/dpm_solver_multistep.h"
#include "afa/schedulers/samplers.h"
#include "test_util.h"

namespace afa::schedulers {
namespace {

using afa::test::error_of;

TEST(Samplers, EveryRowMakesASchedulerOfItsName) {
  SchedulerConfig cfg;
  for (const auto& s : sampler_table()) {
    auto sched = make_scheduler(s.name, cfg);
    ASSERT_TRUE(sched) << s.name;
    // "dpm" is DPM-Solver as configured, which the default config makes DPM-Solver++ 2M.
    if (s.name != "dpm") EXPECT_EQ(sched->name(), s.name);
    sched->set_timesteps(10);
    EXPECT_GE(sched->num_steps(), 10) << s.name;
  }
  EXPECT_EQ(sampler_list(), "ddim|pndm|dpm++2m|dpm|euler|euler_a|lms|ddpm");
}

TEST(Samplers, NamesLabelsAndClassesResolve) {
  EXPECT_EQ(sampler_info("DPM++ 2M").name, "dpm++2m");
  EXPECT_EQ(sampler_info("dpmpp_2m").name, "dpm++2m");
  EXPECT_EQ(sampler_info("PLMS").name, "pndm");
  EXPECT_EQ(sampler_info("Euler a").name, "euler_a");
  EXPECT_EQ(sampler_info("EulerAncestralDiscreteScheduler").name, "euler_a");
  // The class name means the class as configured, not the forced 2M variant.
  EXPECT_EQ(sampler_info("DPMSolverMultistepScheduler").name, "dpm");
  EXPECT_EQ(find_sampler("heun"), nullptr);
  EXPECT_NE(error_of([] { sampler_info("heun"); }).find("known: ddim, pndm"), std::string::npos);
}

TEST(Samplers, EtaGoesToDdimOnly) {
  SchedulerConfig cfg;
  auto ddim = make_scheduler("ddim", cfg, SamplerOptions{0.5});
  EXPECT_EQ(dynamic_cast<DDIMScheduler&>(*ddim).eta, 0.5);
  EXPECT_NE(error_of([&] { make_scheduler("euler", cfg, SamplerOptions{0.5}); }).find("--eta applies to the ddim"),
            std::string::npos);
  // dpm++2m forces DPM-Solver++ of order 2 whatever the config says.
  SchedulerConfig three = cfg;
  three.solver_order = 3;
  three.algorithm_type = "dpmsolver";
  auto a = make_scheduler("dpm++2m", three), b = make_scheduler("dpm++2m", cfg);
  a->set_timesteps(5);
  b->set_timesteps(5);
  torch::Tensor x = torch::ones({1, 4, 2, 2}), eps = torch::full({1, 4, 2, 2}, 0.1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(torch::equal(a->step(eps, i, x), b->step(eps, i, x))) << i;
}

}  // namespace
}  // namespace afa::schedulers
