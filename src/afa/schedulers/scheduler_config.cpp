#include "afa/schedulers/scheduler_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>

#include "afa/util/error.h"
#include "afa/util/json_fields.h"
#include "afa/util/json_file.h"

namespace afa::schedulers {
namespace {

using nlohmann::json;

void check_one_of(const std::string& key, const std::string& value, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (value == a) return;
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  fail("scheduler config: unsupported ", key, " '", value, "' (supported: ", list, ")");
}

}  // namespace

SchedulerConfig SchedulerConfig::from_json(const json& j) {
  AFA_CHECK(j.is_object(), "scheduler config must be a JSON object, got ", j.type_name());
  std::set<std::string> use_default;
  if (j.contains("_use_default_values")) {
    const json& d = j.at("_use_default_values");
    AFA_CHECK(d.is_array(), "scheduler config: '_use_default_values' must be a list");
    for (const json& k : d)
      if (k.is_string()) use_default.insert(k.get<std::string>());
  }
  // A key counts when present, not null and not marked as "class default".
  JsonFields f(j, "scheduler config", use_default);

  SchedulerConfig c;
  c.num_train_timesteps = f.get_int("num_train_timesteps", c.num_train_timesteps);
  c.beta_start = f.get_double("beta_start", c.beta_start);
  c.beta_end = f.get_double("beta_end", c.beta_end);
  c.beta_schedule = f.get_string("beta_schedule", c.beta_schedule);
  if (f.has("trained_betas")) {
    const json& tb = j.at("trained_betas");
    AFA_CHECK(tb.is_array(), "scheduler config: 'trained_betas' must be a list of numbers or null");
    std::vector<double> betas;
    for (const json& b : tb) {
      AFA_CHECK(b.is_number(), "scheduler config: 'trained_betas' must be a list of numbers, got ", b.dump());
      betas.push_back(b.get<double>());
    }
    c.trained_betas = std::move(betas);
  }
  c.rescale_betas_zero_snr = f.get_bool("rescale_betas_zero_snr", c.rescale_betas_zero_snr);
  c.steps_offset = f.get_int("steps_offset", c.steps_offset);
  if (f.has("set_alpha_to_one")) c.set_alpha_to_one = f.get_bool("set_alpha_to_one", true);
  if (f.has("clip_sample")) c.clip_sample = f.get_bool("clip_sample", true);
  c.clip_sample_range = f.get_double("clip_sample_range", c.clip_sample_range);
  c.prediction_type = f.get_string("prediction_type", c.prediction_type);
  if (f.has("timestep_spacing")) c.timestep_spacing = f.get_string("timestep_spacing", "");
  c.thresholding = f.get_bool("thresholding", c.thresholding);
  c.dynamic_thresholding_ratio = f.get_double("dynamic_thresholding_ratio", c.dynamic_thresholding_ratio);
  c.sample_max_value = f.get_double("sample_max_value", c.sample_max_value);
  c.skip_prk_steps = f.get_bool("skip_prk_steps", c.skip_prk_steps);
  c.solver_order = f.get_int("solver_order", c.solver_order);
  c.algorithm_type = f.get_string("algorithm_type", c.algorithm_type);
  c.solver_type = f.get_string("solver_type", c.solver_type);
  c.lower_order_final = f.get_bool("lower_order_final", c.lower_order_final);
  c.lambda_min_clipped = f.get_double("lambda_min_clipped", c.lambda_min_clipped);
  if (f.has("variance_type")) c.variance_type = f.get_string("variance_type", "");
  c.use_karras_sigmas = f.get_bool("use_karras_sigmas", c.use_karras_sigmas);
  c.interpolation_type = f.get_string("interpolation_type", c.interpolation_type);
  c.validate();
  return c;
}

SchedulerConfig SchedulerConfig::from_file(const std::string& path) {
  json j = read_json_file(path, "scheduler config");
  try {
    return from_json(j);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
}

void SchedulerConfig::validate() const {
  AFA_CHECK(num_train_timesteps >= 2, "scheduler config: num_train_timesteps must be >= 2, got ", num_train_timesteps);
  check_one_of("beta_schedule", beta_schedule, {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"});
  if (trained_betas) {
    AFA_CHECK(static_cast<int64_t>(trained_betas->size()) == num_train_timesteps, "scheduler config: trained_betas has ",
              trained_betas->size(), " values but num_train_timesteps is ", num_train_timesteps);
    for (double b : *trained_betas)
      AFA_CHECK(b > 0 && b < 1, "scheduler config: trained_betas values must lie in (0, 1), got ", b);
  } else if (beta_schedule == "linear" || beta_schedule == "scaled_linear" || beta_schedule == "sigmoid") {
    AFA_CHECK(beta_start > 0 && beta_end > 0 && beta_start < 1 && beta_end < 1,
              "scheduler config: beta_start and beta_end must lie in (0, 1), got ", beta_start, " and ", beta_end);
  }
  AFA_CHECK(steps_offset >= 0, "scheduler config: steps_offset must be >= 0, got ", steps_offset);
  check_one_of("prediction_type", prediction_type, {"epsilon", "v_prediction", "sample"});
  if (timestep_spacing) check_one_of("timestep_spacing", *timestep_spacing, {"leading", "linspace", "trailing"});
  if (thresholding) {
    AFA_CHECK(dynamic_thresholding_ratio > 0 && dynamic_thresholding_ratio <= 1,
              "scheduler config: dynamic_thresholding_ratio must lie in (0, 1], got ", dynamic_thresholding_ratio);
    AFA_CHECK(sample_max_value >= 1, "scheduler config: sample_max_value must be >= 1, got ", sample_max_value);
  }
  AFA_CHECK(solver_order >= 1 && solver_order <= 3, "scheduler config: solver_order must be 1, 2 or 3, got ", solver_order);
  // diffusers maps the UniPC/DEIS names onto its own (deis -> dpmsolver++, logrho/bh1/bh2 -> midpoint).
  check_one_of("algorithm_type", algorithm_type, {"dpmsolver", "dpmsolver++", "sde-dpmsolver", "sde-dpmsolver++", "deis"});
  check_one_of("solver_type", solver_type, {"midpoint", "heun", "logrho", "bh1", "bh2"});
  if (variance_type)
    check_one_of("variance_type", *variance_type,
                 {"fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned", "learned_range"});
  check_one_of("interpolation_type", interpolation_type, {"linear", "log_linear"});
}

}  // namespace afa::schedulers
