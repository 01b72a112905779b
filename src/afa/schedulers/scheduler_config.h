// The union of the diffusers scheduler config fields (scheduler_config.json) that afa's schedulers read.
// Fields whose default differs between diffusers classes are optional; each scheduler resolves them with
// its own class default, exactly as `Cls.from_config(config)` does in diffusers.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace afa::schedulers {

struct SchedulerConfig {
  int64_t num_train_timesteps = 1000;
  double beta_start = 0.0001;
  double beta_end = 0.02;
  std::string beta_schedule = "linear";           // linear, scaled_linear, squaredcos_cap_v2, sigmoid (DDPM)
  std::optional<std::vector<double>> trained_betas;
  bool rescale_betas_zero_snr = false;            // DDIM only
  int64_t steps_offset = 0;
  std::optional<bool> set_alpha_to_one;           // DDIM default true, PNDM default false
  std::optional<bool> clip_sample;                // DDIM/DDPM default true
  double clip_sample_range = 1.0;
  std::string prediction_type = "epsilon";        // epsilon, v_prediction, sample
  std::optional<std::string> timestep_spacing;    // leading (DDIM/PNDM/DDPM), linspace (DPM/Euler/LMS), trailing
  bool thresholding = false;
  double dynamic_thresholding_ratio = 0.995;
  double sample_max_value = 1.0;
  bool skip_prk_steps = false;                    // PNDM
  // DPM-Solver multistep
  int64_t solver_order = 2;
  std::string algorithm_type = "dpmsolver++";     // dpmsolver, dpmsolver++, sde-dpmsolver, sde-dpmsolver++
  std::string solver_type = "midpoint";           // midpoint, heun
  bool lower_order_final = true;
  double lambda_min_clipped = -std::numeric_limits<double>::infinity();
  std::optional<std::string> variance_type;       // DDPM default fixed_small; DPM default none
  // Euler / LMS / DPM
  bool use_karras_sigmas = false;
  std::string interpolation_type = "linear";      // Euler: linear, log_linear

  // Parses a diffusers scheduler config. Keys starting with '_' and keys no afa scheduler reads are
  // ignored; keys listed in `_use_default_values` are treated as absent (so the target class's default
  // applies, as in diffusers' from_config). Wrong JSON types and unknown enum values are an afa::Error.
  static SchedulerConfig from_json(const nlohmann::json& j);
  static SchedulerConfig from_file(const std::string& path);

  // Checks the values that every scheduler shares (ranges, enum spellings); throws afa::Error.
  void validate() const;
};

}  // namespace afa::schedulers
