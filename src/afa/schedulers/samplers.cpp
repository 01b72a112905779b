#include "afa/schedulers/samplers.h"

#include "afa/schedulers/ddim.h"
#include "afa/schedulers/ddpm.h"
#include "afa/schedulers/dpm_solver_multistep.h"
#include "afa/schedulers/euler.h"
#include "afa/schedulers/euler_ancestral.h"
#include "afa/schedulers/lms.h"
#include "afa/schedulers/pndm.h"
#include "afa/util/error.h"

namespace afa::schedulers {

namespace {

template <typename S>
std::unique_ptr<Scheduler> plain(const SchedulerConfig& cfg, const SamplerOptions&) {
  return std::make_unique<S>(cfg);
}

std::unique_ptr<Scheduler> ddim(const SchedulerConfig& cfg, const SamplerOptions& o) {
  auto s = std::make_unique<DDIMScheduler>(cfg);
  s->eta = o.eta;
  return s;
}

// DPM-Solver++ 2M whatever the checkpoint's scheduler config says (A1111's "DPM++ 2M").
std::unique_ptr<Scheduler> dpmpp_2m(const SchedulerConfig& cfg, const SamplerOptions&) {
  SchedulerConfig c = cfg;
  c.algorithm_type = "dpmsolver++";
  c.solver_order = 2;
  return std::make_unique<DPMSolverMultistepScheduler>(c);
}

}  // namespace

const std::vector<SamplerInfo>& sampler_table() {
  static const std::vector<SamplerInfo> table = {
      {"ddim", "DDIMScheduler", "DDIM", true, {}, ddim},
      {"pndm", "PNDMScheduler", "PLMS", false, {"plms"}, plain<PNDMScheduler>},
      {"dpm++2m", "DPMSolverMultistepScheduler", "DPM++ 2M", false, {"dpmpp_2m"}, dpmpp_2m},
      {"dpm", "DPMSolverMultistepScheduler", "DPM-Solver (as configured)", false, {}, plain<DPMSolverMultistepScheduler>},
      {"euler", "EulerDiscreteScheduler", "Euler", false, {}, plain<EulerDiscreteScheduler>},
      {"euler_a", "EulerAncestralDiscreteScheduler", "Euler a", false, {}, plain<EulerAncestralDiscreteScheduler>},
      {"lms", "LMSDiscreteScheduler", "LMS", false, {}, plain<LMSDiscreteScheduler>},
      {"ddpm", "DDPMScheduler", "DDPM", false, {}, plain<DDPMScheduler>},
  };
  return table;
}

const SamplerInfo* find_sampler(const std::string& name) {
  const auto& table = sampler_table();
  // Exact CLI names and aliases first, then class names (the dpm row is the class as configured), then labels.
  for (const auto& s : table) {
    if (s.name == name) return &s;
    for (const auto& a : s.aliases)
      if (a == name) return &s;
  }
  for (const auto& s : table)
    if (s.diffusers_class == name && s.make != dpmpp_2m) return &s;
  for (const auto& s : table)
    if (s.a1111_label == name) return &s;
  return nullptr;
}

const SamplerInfo& sampler_info(const std::string& name) {
  const SamplerInfo* s = find_sampler(name);
  if (!s) fail("unknown scheduler '", name, "' (known: ", sampler_list(", "), ")");
  return *s;
}

std::string sampler_list(const std::string& separator) {
  std::string out;
  for (const auto& s : sampler_table()) out += (out.empty() ? "" : separator) + s.name;
  return out;
}

std::vector<std::string> scheduler_names() {
  std::vector<std::string> out;
  for (const auto& s : sampler_table()) out.push_back(s.name);
  return out;
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& cfg,
                                          const SamplerOptions& options) {
  const SamplerInfo& s = sampler_info(name);
  AFA_CHECK(options.eta == 0.0 || s.takes_eta, "--eta applies to the ddim sampler only (sampler is ", name, ")");
  return s.make(cfg, options);
}

std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& cfg) {
  return make_scheduler(name, cfg, SamplerOptions{});
}

}  // namespace afa::schedulers
