#include "afa/schedulers/scheduler_config.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>

#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::schedulers {
namespace {

using nlohmann::json;

std::string type_name(const json& v) { return v.type_name(); }

int64_t get_int(const json& v, const std::string& key) {
  if (v.is_number_integer()) return v.get<int64_t>();
  // Python configs sometimes carry integral floats (1000.0).
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d)) return static_cast<int64_t>(d);
  }
  fail("scheduler config: '", key, "' must be an integer, got ", type_name(v), " ", v.dump());
}

double get_double(const json& v, const std::string& key) {
  if (v.is_number()) return v.get<double>();
  // Python's json writes float('inf') as Infinity; diffusers' to_json_string writes "-inf" strings.
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "-inf" || s == "-Infinity") return -INFINITY;
    if (s == "inf" || s == "Infinity") return INFINITY;
  }
  fail("scheduler config: '", key, "' must be a number, got ", type_name(v), " ", v.dump());
}

bool get_bool(const json& v, const std::string& key) {
  if (v.is_boolean()) return v.get<bool>();
  fail("scheduler config: '", key, "' must be true or false, got ", type_name(v), " ", v.dump());
}

std::string get_string(const json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  fail("scheduler config: '", key, "' must be a string, got ", type_name(v), " ", v.dump());
}

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
  auto has = [&](const char* key) {
    return j.contains(key) && !j.at(key).is_null() && use_default.count(key) == 0;
  };

  SchedulerConfig c;
  if (has("num_train_timesteps")) c.num_train_timesteps = get_int(j.at("num_train_timesteps"), "num_train_timesteps");
  if (has("beta_start")) c.beta_start = get_double(j.at("beta_start"), "beta_start");
  if (has("beta_end")) c.beta_end = get_double(j.at("beta_end"), "beta_end");
  if (has("beta_schedule")) c.beta_schedule = get_string(j.at("beta_schedule"), "beta_schedule");
  if (has("trained_betas")) {
    const json& tb = j.at("trained_betas");
    AFA_CHECK(tb.is_array(), "scheduler config: 'trained_betas' must be a list of numbers or null");
    std::vector<double> betas;
    for (const json& b : tb) betas.push_back(get_double(b, "trained_betas"));
    c.trained_betas = std::move(betas);
  }
  if (has("rescale_betas_zero_snr")) c.rescale_betas_zero_snr = get_bool(j.at("rescale_betas_zero_snr"), "rescale_betas_zero_snr");
  if (has("steps_offset")) c.steps_offset = get_int(j.at("steps_offset"), "steps_offset");
  if (has("set_alpha_to_one")) c.set_alpha_to_one = get_bool(j.at("set_alpha_to_one"), "set_alpha_to_one");
  if (has("clip_sample")) c.clip_sample = get_bool(j.at("clip_sample"), "clip_sample");
  if (has("clip_sample_range")) c.clip_sample_range = get_double(j.at("clip_sample_range"), "clip_sample_range");
  if (has("prediction_type")) c.prediction_type = get_string(j.at("prediction_type"), "prediction_type");
  if (has("timestep_spacing")) c.timestep_spacing = get_string(j.at("timestep_spacing"), "timestep_spacing");
  if (has("thresholding")) c.thresholding = get_bool(j.at("thresholding"), "thresholding");
  if (has("dynamic_thresholding_ratio"))
    c.dynamic_thresholding_ratio = get_double(j.at("dynamic_thresholding_ratio"), "dynamic_thresholding_ratio");
  if (has("sample_max_value")) c.sample_max_value = get_double(j.at("sample_max_value"), "sample_max_value");
  if (has("skip_prk_steps")) c.skip_prk_steps = get_bool(j.at("skip_prk_steps"), "skip_prk_steps");
  if (has("solver_order")) c.solver_order = get_int(j.at("solver_order"), "solver_order");
  if (has("algorithm_type")) c.algorithm_type = get_string(j.at("algorithm_type"), "algorithm_type");
  if (has("solver_type")) c.solver_type = get_string(j.at("solver_type"), "solver_type");
  if (has("lower_order_final")) c.lower_order_final = get_bool(j.at("lower_order_final"), "lower_order_final");
  if (has("lambda_min_clipped")) c.lambda_min_clipped = get_double(j.at("lambda_min_clipped"), "lambda_min_clipped");
  if (has("variance_type")) c.variance_type = get_string(j.at("variance_type"), "variance_type");
  if (has("use_karras_sigmas")) c.use_karras_sigmas = get_bool(j.at("use_karras_sigmas"), "use_karras_sigmas");
  if (has("interpolation_type")) c.interpolation_type = get_string(j.at("interpolation_type"), "interpolation_type");
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
