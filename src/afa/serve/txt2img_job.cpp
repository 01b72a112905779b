#include "afa/serve/txt2img_job.h"

#include "afa/ensemble/make_denoiser.h"
#include "afa/io/base64.h"
#include "afa/pipeline/generation_parameters.h"
#include "afa/schedulers/samplers.h"
#include "afa/text/clip_tokenizer.h"

namespace afa::serve {

ServeContext ResidentModels::context() const {
  ServeContext c;
  c.num_models = models.size();
  c.vae_factor = models.vae_factor();
  c.native_size = models.native_size();
  c.method = method;
  c.has_aggregators = method.aggregators.has_value();
  return c;
}

namespace {

// CLIP reads 75 tokens; the rest of a longer prompt is dropped, as in diffusers (A1111 would chunk it).
void warn_if_truncated(const text::ClipTokenizer& tok, const std::string& prompt, const char* what,
                       nlohmann::json& warnings) {
  const auto enc = tok.encode(prompt);
  if (enc.truncated())
    warnings.push_back(std::string(what) + " has " + std::to_string(enc.n_tokens_untruncated - 2) +
                       " tokens; CLIP reads only the first " + std::to_string(tok.max_length() - 2) + ", the last " +
                       std::to_string(enc.n_tokens_untruncated - enc.n_tokens) + " are ignored");
}

}  // namespace

JobResult run_txt2img(ResidentModels& resident, const Txt2ImgRequest& request, const JobControl& control) {
  const auto& ensemble = resident.models;
  const auto denoiser = ensemble::make_denoiser(request.method, ensemble.unets(), request.options.cfg_scale);
  const auto extra = ensemble::method_parameters(request.method);
  const std::string names = ensemble.names();
  nlohmann::json warnings = nlohmann::json::array();
  warn_if_truncated(*ensemble.models.at(0).tokenizer, request.options.prompt, "the prompt", warnings);
  warn_if_truncated(*ensemble.models.at(0).tokenizer, request.options.negative_prompt, "the negative prompt", warnings);

  nlohmann::json images = nlohmann::json::array(), infotexts = nlohmann::json::array();
  nlohmann::json all_seeds = nlohmann::json::array(), all_prompts = nlohmann::json::array();
  nlohmann::json all_negative = nlohmann::json::array(), steps_done = nlohmann::json::array();
  bool interrupted = false;
  const auto start = Clock::now();
  const int64_t batch = request.options.batch;
  for (int64_t k = 0; k < request.n_iter && !interrupted; ++k) {
    control.check_cancelled();
    pipeline::GenerateOptions o = request.options;
    o.seed = request.options.seed + uint64_t(k * batch);  // wraps at 2^64 as A1111's seed + i never needs to
    o.stop = [&] { return control.interrupted(); };
    control.report(k, request.n_iter, 0, o.steps);
    auto on_step = [&](int64_t i, int64_t n, const torch::Tensor&) {
      control.report(k, request.n_iter, i + 1, n);
      control.check_cancelled();
    };
    const auto result = pipeline::generate(*denoiser, ensemble.pointers(), o, on_step);
    interrupted = control.interrupted();
    steps_done.push_back(result.steps_done);
    const auto pngs = pipeline::generation_pngs(result, o, names, extra);
    for (int64_t i = 0; i < batch; ++i) {
      if (request.send_images) images.push_back(io::base64_encode(pngs[size_t(i)]));
      infotexts.push_back(pipeline::a1111_parameters(o, names, extra, i));
      all_seeds.push_back(o.seed);
      all_prompts.push_back(o.prompt);
      all_negative.push_back(o.negative_prompt);
    }
  }

  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const auto& o = request.options;
  nlohmann::json extra_params = nlohmann::json::object();
  for (const auto& [key, value] : extra) extra_params[key] = value;
  const nlohmann::json info = {
      {"prompt", o.prompt},
      {"all_prompts", all_prompts},
      {"negative_prompt", o.negative_prompt},
      {"all_negative_prompts", all_negative},
      {"seed", o.seed},
      {"all_seeds", all_seeds},
      {"subseed", o.seed},
      {"all_subseeds", all_seeds},
      {"subseed_strength", 0},
      {"width", o.width},
      {"height", o.height},
      {"sampler_name", schedulers::sampler_info(o.sampler).a1111_label},
      {"cfg_scale", o.cfg_scale},
      {"steps", o.steps},
      {"batch_size", batch},
      {"restore_faces", false},
      {"sd_model_name", names},
      {"sd_model_hash", nullptr},
      {"extra_generation_params", extra_params},
      {"index_of_first_image", 0},
      {"infotexts", infotexts},
      {"styles", nlohmann::json::array()},
      {"version", "afa"},
      {"afa_method", request.method.method},
      {"afa_models", resident.paths},
      {"afa_interrupted", interrupted},
      {"afa_steps_done", steps_done},
      {"afa_job", control.job_id()},
      {"afa_run", control.run_no()},
      {"afa_generation_seconds", seconds},  // sampling, decoding and PNG encoding of every batch
      {"afa_warnings", warnings},
  };
  return {200, {{"images", images}, {"parameters", request.parameters}, {"info", info.dump()}}};
}

}  // namespace afa::serve
