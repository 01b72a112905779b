#include "afa/demo/demo_auto_mbw.h"

#include <filesystem>
#include <iostream>

#include "afa/demo/demo_measures.h"
#include "afa/demo/demo_protocol.h"
#include "afa/merge/auto_mbw.h"
#include "afa/util/atomic_file.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"
#include "afa/util/progress.h"

namespace fs = std::filesystem;

namespace afa::demo {

namespace {
// autoMBW's prompts: training scenes of another stream than the shipped data's (seed 2), so the search
// sees prompts of the training distribution and never a held-out one.
constexpr uint64_t kSearchSceneSeed = 2;

AutoMbwResult read_cache(const std::string& path) {
  const auto j = read_json_file(path, "autoMBW cache");
  AFA_CHECK(j.contains("weights") && j["weights"].is_string(), path, ": no \"weights\" (26 values, BASE first)");
  AutoMbwResult r;
  r.weights = merge::parse_block_weights(j["weights"].get<std::string>(), std::nullopt);
  r.score = j.value("score", 0.0);
  r.trials = j.value("trials", int64_t(0));
  return r;
}
}  // namespace

AutoMbwResult auto_mbw_weights(const DemoModels& models, ToyClassifier& classifier, const AutoMbwOptions& o) {
  if (!o.retrain && fs::exists(models.auto_mbw)) return read_cache(models.auto_mbw);
  AFA_CHECK(!o.work.empty(), "autoMBW: no work folder");
  fs::create_directories(o.work);
  const auto scenes = training_scenes(o.prompts, kSearchSceneSeed);
  std::vector<std::string> prompts;
  for (const auto& s : scenes) prompts.push_back(caption(s));
  const std::string trial_dir = (fs::path(o.work) / "auto-mbw-trial").string();
  torch::Tensor noise;  // one seed (0) for every prompt, as the table's first seed
  Gaussian none;
  const std::string log = (fs::path(o.work) / "auto_mbw_trials.jsonl").string();
  if (o.retrain) fs::remove(log);

  ProgressBar bar("autoMBW search", o.budget, o.progress);
  int64_t done = 0;
  merge::BlockScorer score = [&](const merge::BlockWeights& w) {
    write_chained_mbw(models.experts, w, trial_dir, o.work);
    auto model = pipeline::load_stable_diffusion(trial_dir);
    if (!noise.defined()) {  // seed 0's noise for every prompt
      const int64_t f = model.vae->config().downscale_factor(), c = model.vae->config().latent_channels;
      at::Generator g = pipeline::make_cpu_generator(0);
      noise = pipeline::seeded_latents({1, c, 64 / f, 64 / f}, g).expand({int64_t(prompts.size()), -1, -1, -1}).contiguous();
    }
    pipeline::SingleUNet denoiser(model.unet);
    auto images = sample_images(denoiser, {&model}, prompts, noise, o.steps, 7.5);
    const double s = score_fidelity(classifier, images.images, scenes, none).attributes.mean;
    bar.update(++done, "best " + std::to_string(s));
    return s;
  };
  merge::SearchOptions so;
  so.step = o.step;
  so.budget = o.budget;
  so.log_path = log;
  so.order = merge::default_search_order();
  so.order.erase(so.order.begin());  // BASE: text encoder and VAE are the same in every expert
  const auto found = merge::search_block_weights(score, so);
  bar.finish();
  fs::remove_all(trial_dir);

  AutoMbwResult r;
  r.weights = found.best;
  r.score = found.best_score;
  r.trials = found.trials + found.replayed;
  r.searched = true;
  const nlohmann::json cache{
      {"weights", r.weights.to_string()},
      {"score", r.score},
      {"trials", r.trials},
      {"search", {{"step", o.step}, {"budget", o.budget}, {"order", "M00, IN00..IN11, OUT00..OUT11"}}},
      {"scorer", "mean toy attribute accuracy, " + std::to_string(o.prompts) + " training prompts (toy stream seed " +
                     std::to_string(kSearchSceneSeed) + "), seed 0, DDIM " + std::to_string(o.steps) +
                     " steps, CFG 7.5"},
      {"merge", "chained MBW: M1 = (1-p) round + p warm; (1-2p/3) M1 + (2p/3) pair"}};
  fs::create_directories(fs::path(models.auto_mbw).parent_path());
  write_text_atomic(models.auto_mbw, cache.dump(2) + "\n");
  return r;
}

}  // namespace afa::demo
