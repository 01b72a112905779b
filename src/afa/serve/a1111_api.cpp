#include "afa/serve/a1111_api.h"

#include "afa/schedulers/samplers.h"

namespace afa::serve {

nlohmann::json sd_models_json(const ResidentModels& resident) {
  const std::string title = resident.models.names();
  return nlohmann::json::array({{{"title", title},
                                 {"model_name", title},
                                 {"hash", nullptr},
                                 {"sha256", nullptr},
                                 {"filename", resident.paths.empty() ? "" : resident.paths[0]},
                                 {"config", nullptr},
                                 {"afa_models", resident.paths},
                                 {"afa_method", resident.method.method}}});
}

nlohmann::json samplers_json() {
  auto out = nlohmann::json::array();
  for (const auto& s : schedulers::sampler_table()) {
    auto aliases = nlohmann::json::array({s.name});
    for (const auto& a : s.aliases) aliases.push_back(a);
    out.push_back({{"name", s.a1111_label}, {"aliases", aliases}, {"options", nlohmann::json::object()}});
  }
  return out;
}

nlohmann::json schedulers_json() {
  return nlohmann::json::array({{{"name", "automatic"},
                                 {"label", "Automatic"},
                                 {"aliases", nullptr},
                                 {"default_rho", -1},
                                 {"need_inner_model", false}}});
}

nlohmann::json progress_json(const Progress& p) {
  double progress = 0, eta = 0;
  if (p.busy && p.job_count > 0 && p.sampling_steps > 0) {
    progress = (double(p.job_no) + double(p.sampling_step) / double(p.sampling_steps)) / double(p.job_count);
    if (progress > 0) eta = p.elapsed_seconds / progress - p.elapsed_seconds;
  }
  return {{"progress", progress},
          {"eta_relative", eta},
          {"state",
           {{"skipped", false},
            {"interrupted", p.interrupted},
            {"stopping_generation", false},
            {"job", p.busy ? "txt2img" : ""},
            {"job_count", p.job_count},
            {"job_timestamp", p.job_timestamp.empty() ? "0" : p.job_timestamp},
            {"job_no", p.job_no},
            {"sampling_step", p.sampling_step},
            {"sampling_steps", p.sampling_steps}}},
          {"current_image", nullptr},
          {"textinfo", nullptr},
          {"afa_job", p.busy ? nlohmann::json(p.job_id) : nlohmann::json(nullptr)},
          {"afa_waiting", p.waiting}};
}

nlohmann::json options_json(const ResidentModels& resident) {
  return {{"sd_model_checkpoint", resident.models.names()}, {"samples_format", "png"}};
}

}  // namespace afa::serve
