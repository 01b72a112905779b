#include "afa/demo/demo_measures.h"

#include <chrono>
#include <cmath>

#include "afa/demo/toy_render.h"
#include "afa/demo/toy_score.h"
#include "afa/demo/toy_split.h"
#include "afa/io/image.h"
#include "afa/schedulers/ddpm.h"
#include "afa/train/denoising_loss.h"
#include "afa/util/error.h"

namespace afa::demo {

MeanSe paired_difference(const MeanSe& a, const MeanSe& b) {
  if (a.values.empty() || a.values.size() != b.values.size()) return mean_se({});
  std::vector<double> d(a.values.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = a.values[i] - b.values[i];
  return mean_se(d);
}

MeanSe mean_se(const std::vector<double>& v) {
  MeanSe r;
  r.values = v;
  r.n = static_cast<int64_t>(v.size());
  if (v.empty()) {
    r.mean = r.se = NAN;  // "n/a" in the report, null in JSON
    return r;
  }
  double sum = 0;
  for (double x : v) sum += x;
  r.mean = sum / double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - r.mean) * (x - r.mean);
    r.se = std::sqrt(ss / double(v.size() - 1) / double(v.size()));
  }
  return r;
}

SampledImages sample_images(pipeline::Denoiser& denoiser, const std::vector<const pipeline::StableDiffusion*>& models,
                            const std::vector<std::string>& prompts, const torch::Tensor& noise, int64_t steps,
                            double cfg_scale, const pipeline::StepCallback& on_step) {
  const int64_t f = models.at(0)->vae->config().downscale_factor();
  pipeline::GenerateOptions o;
  o.prompts = prompts;
  o.latents = noise;
  o.steps = steps;
  o.cfg_scale = cfg_scale;
  o.sampler = "ddim";  // the paper's sampler, eta 0
  o.height = noise.size(2) * f;
  o.width = noise.size(3) * f;
  o.progress = false;
  const auto start = std::chrono::steady_clock::now();
  auto result = pipeline::generate(denoiser, models, o, on_step);
  SampledImages out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < result.images.size(0); ++i) images.push_back(io::to_uint8_image(result.images[i]));
  out.images = torch::stack(images);
  return out;
}

FidelityScore score_fidelity(ToyClassifier& classifier, const torch::Tensor& images_u8,
                             const std::vector<ToyScene>& expected, const Gaussian& reference) {
  AFA_INTERNAL_ASSERT(images_u8.size(0) == static_cast<int64_t>(expected.size()), "one scene per image");
  auto out = run_classifier(classifier, images_u8);
  FidelityTally tally;
  FidelityScore s;
  std::vector<double> all, fraction;
  for (size_t i = 0; i < expected.size(); ++i) {
    auto rec = tally.add(expected[i], out.readings[i]);
    int right = 0, checks = 0;
    for (const char* k : {"position", "shape", "colour", "size"})
      for (const auto& b : rec[k]) right += b.get<bool>(), ++checks;
    for (const char* k : {"background", "background_colour", "objects"}) right += rec[k].get<bool>(), ++checks;
    all.push_back(rec["all"].get<bool>() ? 1.0 : 0.0);
    fraction.push_back(double(right) / double(checks));
    s.records.push_back(std::move(rec));
  }
  s.accuracy = tally.accuracy();
  s.all = mean_se(all);
  s.attributes = mean_se(fraction);
  s.toy_fid = expected.size() >= 2 && reference.mean.defined() ? frechet_distance(fit_gaussian(out.features), reference) : NAN;
  return s;
}

torch::Tensor vae_round_trip(const pipeline::StableDiffusion& model, const torch::Tensor& images_u8) {
  torch::NoGradGuard no_grad;
  AFA_CHECK(model.vae, model.path, ": no VAE for the round trip");
  auto& vae = const_cast<models::AutoencoderKL&>(model.vae);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images_u8.size(0); i += 64) {
    auto x = images_u8.slice(0, i, i + 64).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);
    auto y = vae->decode(vae->encode(x.to(vae->device(), vae->dtype())).mean).to(torch::kCPU, torch::kFloat32);
    out.push_back(y.add(1.0).mul(127.5).round().clamp(0, 255).to(torch::kUInt8).permute({0, 2, 3, 1}).contiguous());
  }
  return torch::cat(out);
}

HeldoutSet make_heldout_set(const pipeline::StableDiffusion& model, const std::vector<ToyScene>& scenes,
                            const std::vector<int64_t>& timesteps, int image_size, uint64_t seed) {
  torch::NoGradGuard no_grad;
  AFA_CHECK(model.vae, "the held-out MSE needs a model with a VAE");
  std::vector<torch::Tensor> images;
  for (const auto& s : scenes) images.push_back(render(s, image_size));
  // uint8 HWC -> [-1, 1] CHW, as the trainer reads images.
  auto x = torch::stack(images).permute({0, 3, 1, 2}).to(torch::kFloat32).div(127.5).sub(1.0);
  auto& vae = const_cast<models::AutoencoderKL&>(model.vae);
  auto z = vae->encode(x.to(vae->device(), vae->dtype())).mean.to(torch::kCPU, torch::kFloat32) *
           vae->config().scaling_factor;
  HeldoutSet set;
  std::vector<torch::Tensor> x0, ts;
  for (size_t i = 0; i < scenes.size(); ++i)
    for (int64_t t : timesteps) {
      set.captions.push_back(caption(scenes[i]));
      set.subsets.push_back(subsets(scenes[i]));
      x0.push_back(z[static_cast<int64_t>(i)]);
      ts.push_back(torch::tensor(t, torch::kInt64));
    }
  set.x0 = torch::stack(x0);
  set.timesteps = torch::stack(ts);
  at::Generator gen = pipeline::make_cpu_generator(seed);
  set.noise = torch::randn(set.x0.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat32));
  return set;
}

nlohmann::json MseScore::to_json() const {
  nlohmann::json j{{"all", all.to_json()}, {"by_subset", nlohmann::json::object()},
                   {"by_timestep", nlohmann::json::object()}};
  for (const auto& [k, v] : by_subset) j["by_subset"][k] = v.to_json();
  for (const auto& [k, v] : by_timestep) j["by_timestep"][std::to_string(k)] = v.to_json();
  return j;
}

MseScore heldout_mse(pipeline::Denoiser& denoiser, const std::vector<const pipeline::StableDiffusion*>& models,
                     const HeldoutSet& set, int64_t batch) {
  torch::NoGradGuard no_grad;
  if (denoiser.name() == "magicfusion") return MseScore{mean_se({}), {}, {}};
  schedulers::DDPMScheduler ddpm(models.at(0)->scheduler_config);
  const int64_t rows = set.x0.size(0);
  std::vector<double> losses;
  for (int64_t b = 0; b < rows; b += batch) {
    const int64_t e = std::min(rows, b + batch);
    pipeline::GenerateOptions o;
    o.prompts.assign(set.captions.begin() + b, set.captions.begin() + e);
    o.cfg_scale = 1.0;  // conditional rows only
    auto contexts = pipeline::encode_prompts(models, o);
    auto loss = train::per_sample_denoising_loss(denoiser, ddpm, set.x0.slice(0, b, e), set.noise.slice(0, b, e),
                                                 set.timesteps.slice(0, b, e), contexts)
                    .to(torch::kCPU, torch::kFloat64);
    for (int64_t i = 0; i < loss.size(0); ++i) losses.push_back(loss[i].item<double>());
  }
  MseScore s;
  s.all = mean_se(losses);
  std::map<std::string, std::vector<double>> by_subset;
  std::map<int64_t, std::vector<double>> by_t;
  for (int64_t r = 0; r < rows; ++r) {
    const auto& subs = set.subsets[r];
    if (subs.empty()) by_subset["none"].push_back(losses[r]);
    for (const auto& name : subs) by_subset[name].push_back(losses[r]);
    by_t[set.timesteps[r].item<int64_t>()].push_back(losses[r]);
  }
  for (const auto& [k, v] : by_subset) s.by_subset[k] = mean_se(v);
  for (const auto& [k, v] : by_t) s.by_timestep[k] = mean_se(v);
  return s;
}

Gaussian reference_gaussian(ToyClassifier& classifier, const std::vector<ToyScene>& scenes, int size) {
  std::vector<torch::Tensor> images;
  for (const auto& s : scenes) images.push_back(render(s, size));
  return fit_gaussian(run_classifier(classifier, torch::stack(images)).features);
}

}  // namespace afa::demo
