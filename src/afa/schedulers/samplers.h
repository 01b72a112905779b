// The table of samplers: one row per name a user can type, read by make_scheduler, the CLI help, PNG
// metadata (A1111's labels, so its PNG Info and API clients recognise them) and the server. A row says
// which diffusers class it is and which sampling options it takes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

// Options of a sampling run that some samplers take.
struct SamplerOptions {
  double eta = 0.0;  // DDIM's eta: 0 deterministic, 1 DDPM-like
};

struct SamplerInfo {
  std::string name;             // CLI name: ddim, pndm, dpm++2m, ...
  std::string diffusers_class;  // DDIMScheduler, ...
  std::string a1111_label;      // "DDIM", "PLMS", "DPM++ 2M", ...
  bool takes_eta = false;
  std::vector<std::string> aliases;  // other accepted spellings
  std::unique_ptr<Scheduler> (*make)(const SchedulerConfig& cfg, const SamplerOptions& o);
};

// Every sampler, in the order help texts list them.
const std::vector<SamplerInfo>& sampler_table();
// The row for a CLI name, an alias, a diffusers class name or an A1111 label; nullptr when unknown.
const SamplerInfo* find_sampler(const std::string& name);
// The row for a name; throws afa::Error listing the known names.
const SamplerInfo& sampler_info(const std::string& name);
// "ddim|pndm|dpm++2m|..." for help texts.
std::string sampler_list(const std::string& separator = "|");

}  // namespace afa::schedulers
