#include "afa/demo/demo_run.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <filesystem>
#include <iostream>

#include "afa/analysis/analysis_report.h"
#include "afa/analysis/region_wins.h"
#include "afa/demo/demo_report.h"
#include "afa/demo/toy_render.h"
#include "afa/schedulers/ddpm.h"
#include "afa/ensemble/attention_maps.h"
#include "afa/io/image.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/util/device.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"
#include "afa/util/threads.h"

namespace fs = std::filesystem;

namespace afa::demo {

namespace {

constexpr int kImageSize = 64;  // the demo world's images (scripts/demo_world.sh)

// Each checkpoint is loaded once and shared by every method that uses it.
class ModelCache {
 public:
  explicit ModelCache(pipeline::LoadOptions o) : options_(std::move(o)) {}
  std::vector<const pipeline::StableDiffusion*> get(const std::vector<std::string>& paths) {
    std::vector<const pipeline::StableDiffusion*> out;
    for (const auto& p : paths) {
      auto it = models_.find(p);
      if (it == models_.end()) it = models_.emplace(p, pipeline::load_stable_diffusion(p, options_)).first;
      out.push_back(&it->second);
    }
    return out;
  }

 private:
  pipeline::LoadOptions options_;
  std::map<std::string, pipeline::StableDiffusion> models_;
};

std::string image_name(int64_t steps, size_t prompt, int64_t seed) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "s%03lld_p%02zu_seed%lld.png", (long long)steps, prompt, (long long)seed);
  return buf;
}

// Rows: methods; columns: prompts (seed 0, the main step count); 2 px white gaps.
torch::Tensor image_grid(const std::vector<torch::Tensor>& rows_of_images, int64_t columns) {
  const int64_t gap = 2, n = static_cast<int64_t>(rows_of_images.size());
  const int64_t s = rows_of_images.at(0).size(1);
  auto grid = torch::full({n * (s + gap) - gap, columns * (s + gap) - gap, 3}, 255, torch::kUInt8);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < columns; ++c)
      grid.slice(0, r * (s + gap), r * (s + gap) + s).slice(1, c * (s + gap), c * (s + gap) + s).copy_(rows_of_images[r][c]);
  return grid;
}


// What one method's task needs (read-only, shared by the workers) and what it returns.
struct RunInputs {
  const DemoOptions* options = nullptr;
  std::vector<std::string> prompts;  // per image
  std::vector<ToyScene> expected;
  torch::Tensor noise;
  const Gaussian* reference = nullptr;
  const HeldoutSet* heldout = nullptr;
};
struct MethodRun {
  MethodResult result;
  torch::Tensor grid_row;  // the main step count's first-seed images, one per prompt
  std::vector<std::pair<int64_t, std::string>> attention;
  std::vector<int64_t> attention_stages;
};

MethodRun run_method(const DemoMethod& m, ModelCache& cache, ToyClassifier& classifier, const RunInputs& in,
                     const std::function<void(const std::string&)>& progress) {
  const DemoOptions& o = *in.options;
  const auto& prompts = in.prompts;
  const int64_t main_steps = o.steps.front();
  MethodRun run;
  MethodResult& r = run.result;
  r.method = m;
  auto sd = cache.get(m.models);
  std::vector<models::UNet2DConditionModel> unets;
  for (const auto* s : sd) unets.push_back(s->unet);
  auto denoiser = ensemble::make_denoiser(m.options, unets, o.cfg_scale);
  const fs::path dir = fs::path(o.output) / "images" / m.id;
  fs::create_directories(dir);
  for (int64_t steps : o.steps) {
    pipeline::StepCallback on_step;
    const bool maps = m.id == "afa" && steps == main_steps;
    if (maps) {
      ensemble::AttentionMapRequest req;
      req.dir = (fs::path(o.output) / "attention").string();
      run.attention_stages = {0, 23};  // the first and the penultimate aggregation points (paper Fig. 6)
      req.blocks = run.attention_stages;
      for (int64_t q = 0; q < 5; ++q) req.steps.push_back(q * (steps - 1) / 4);
      req.row = static_cast<int64_t>(prompts.size());  // the first conditional row
      denoiser->record_attention_maps(true);
      on_step = ensemble::attention_map_writer(*denoiser, req);
      for (int64_t s : req.steps) {
        char name[48];
        std::snprintf(name, sizeof name, "attention/step%02lld_grid.png", (long long)s);
        run.attention.emplace_back(s, name);
      }
    }
    auto images = sample_images(*denoiser, sd, prompts, in.noise, steps, o.cfg_scale, on_step);
    if (maps) denoiser->record_attention_maps(false);
    r.seconds_per_image[steps] = images.seconds / double(prompts.size());
    r.fidelity[steps] = score_fidelity(classifier, images.images, in.expected, *in.reference);
    std::vector<torch::Tensor> row;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const size_t p = i / static_cast<size_t>(o.seeds);
      const int64_t k = static_cast<int64_t>(i) % o.seeds, seed = static_cast<int64_t>(i);  // i = p * seeds + k
      const std::string name = image_name(steps, p, seed);
      io::write_png((dir / name).string(), images.images[static_cast<int64_t>(i)],
                    {{"parameters", prompts[i] + "\nSteps: " + std::to_string(steps) + ", Sampler: DDIM, CFG scale: " +
                                        std::to_string(o.cfg_scale).substr(0, 3) + ", Seed: " + std::to_string(seed) +
                                        ", Size: 64x64, Method: " + m.label}});
      r.images[steps].push_back((fs::path("images") / m.id / name).string());
      if (steps == main_steps && k == 0) row.push_back(images.images[static_cast<int64_t>(i)]);
    }
    if (steps == main_steps) run.grid_row = torch::stack(row);
    progress(m.label + " " + std::to_string(steps));
  }
  // Held-out denoising MSE (no sampling: one prediction per held-out row).
  r.mse = heldout_mse(*denoiser, sd, *in.heldout);
  return run;
}

}  // namespace

DemoResult run_demo(const DemoOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  DemoResult result;
  result.options = options;
  DemoOptions& o = result.options;
  validate(o);
  if (o.models_dir.empty()) o.models_dir = default_models_dir();
  // One thread unless told: the toy models' tensors are too small for intra-op parallelism to pay (on 2
  // cores the quick run takes 34 s with one thread and 100 s with two, bench/RESULTS.md).
  const int threads = set_threads(o.threads > 0 ? o.threads : 1);
  const bool bars = o.progress && ProgressBar::stderr_is_terminal();
  auto say = [&](const std::string& s) {
    if (o.progress) std::cerr << s << "\n";
  };

  // 1. Models, classifier, prompts, noises, held-out rows.
  AFA_CHECK(!fs::exists(o.output) || fs::is_directory(o.output), "-o/--output ", o.output,
            ": exists and is not a folder");
  const DemoModels models = find_demo_models(o.models_dir);
  const auto all_methods = demo_methods(models, MergedModels{});
  auto wanted = [&](const std::string& prefix) {
    if (o.methods.empty()) return true;
    for (const auto& id : o.methods)
      if (id.rfind(prefix, 0) == 0) return true;
    return false;
  };
  for (const auto& id : o.methods) {
    if (std::none_of(all_methods.begin(), all_methods.end(), [&](const DemoMethod& m) { return m.id == id; })) {
      std::string all;
      for (const auto& m : all_methods) all += (all.empty() ? "" : ", ") + m.id;
      fail("--methods: no method '", id, "' (the methods: ", all, ")");
    }
  }
  auto classifier = load_classifier(models.classifier);
  classifier->eval();
  fs::create_directories(o.output);
  const std::string work = (fs::path(o.output) / "work").string();
  fs::create_directories(work);
  pipeline::LoadOptions load;
  load.device = parse_device(o.device);
  ModelCache cache(load);

  result.prompts = demo_prompts(o);
  std::vector<std::string> prompts;
  std::vector<ToyScene> expected;
  for (const auto& s : result.prompts)
    for (int64_t k = 0; k < o.seeds; ++k) prompts.push_back(caption(s)), expected.push_back(s);
  const auto* base = cache.get({models.base}).at(0);
  const int64_t f = base->vae->config().downscale_factor(), c = base->vae->config().latent_channels;
  std::vector<torch::Tensor> noise_rows;
  for (size_t i = 0; i < result.prompts.size(); ++i)
    for (int64_t k = 0; k < o.seeds; ++k) {
      // Image k of prompt i starts from seed i * seeds + k (= afa generate --seed), for every method.
      at::Generator g = pipeline::make_cpu_generator(static_cast<uint64_t>(static_cast<int64_t>(i) * o.seeds + k));
      noise_rows.push_back(pipeline::seeded_latents({1, c, kImageSize / f, kImageSize / f}, g));
    }
  const torch::Tensor noise = torch::cat(noise_rows);
  say("afa demo: " + std::to_string(result.prompts.size()) + " held-out prompts x " + std::to_string(o.seeds) +
      " seeds, DDIM steps " + [&] {
        std::string s;
        for (auto v : o.steps) s += (s.empty() ? "" : ",") + std::to_string(v);
        return s;
      }() + ", CFG " + std::to_string(o.cfg_scale).substr(0, 3) + "; models from " + models.dir);
  const Gaussian reference = reference_gaussian(classifier, heldout_scenes(o.reference_images), kImageSize);
  const HeldoutSet heldout = make_heldout_set(*base, heldout_scenes(o.mse_images), o.mse_timesteps, kImageSize);
  {
    std::vector<torch::Tensor> truth;
    for (const auto& s : result.prompts) truth.push_back(render(s, kImageSize));
    result.vae_ceiling =
        score_fidelity(classifier, vae_round_trip(*base, torch::stack(truth)), result.prompts, reference);
  }

  // 2. The merges.
  AutoMbwOptions ao;
  ao.retrain = o.retrain_auto_mbw;
  ao.budget = o.auto_mbw_budget;
  ao.work = work;
  ao.progress = o.progress;
  MergedModels merged;
  if (wanted("merge-")) {
    if (o.retrain_auto_mbw || !fs::exists(models.auto_mbw)) say("searching autoMBW's block weights (cached afterwards)");
    result.auto_mbw = auto_mbw_weights(models, classifier, ao);
    merged.weighted = write_weighted_merge(models.experts, (fs::path(work) / "merge-weighted").string());
    merged.mbw = write_chained_mbw(models.experts, mbw_preset_weights(), (fs::path(work) / "merge-mbw").string(), work);
    merged.auto_mbw = write_chained_mbw(models.experts, result.auto_mbw.weights,
                                        (fs::path(work) / "merge-auto-mbw").string(), work);
    merged.auto_mbw_weights = result.auto_mbw.weights;
  }
  auto methods = demo_methods(models, merged);
  if (!o.methods.empty()) {
    std::vector<DemoMethod> chosen;
    for (const auto& id : o.methods)
      for (const auto& m : methods)
        if (m.id == id) chosen.push_back(m);
    methods = chosen;
  }

  RunInputs run_inputs;
  run_inputs.options = &o;
  run_inputs.prompts = prompts;
  run_inputs.expected = expected;
  run_inputs.noise = noise;
  run_inputs.reference = &reference;
  run_inputs.heldout = &heldout;
  const int64_t jobs = std::max<int64_t>(1, std::min<int64_t>(o.jobs > 0 ? o.jobs : std::max(1u, std::thread::hardware_concurrency()),
                                                            static_cast<int64_t>(methods.size())));

  // 3-4. Every method in its own task: sampling at each step count, fidelity, held-out MSE. `jobs` workers
  //      take the methods in turn, each with its own models and classifier (nothing is shared between
  //      threads), so the results do not depend on the scheduling.
  ProgressBar bar("sampling", static_cast<int64_t>(methods.size() * o.steps.size()), bars);
  std::mutex bar_mutex;
  int64_t done = 0;
  std::vector<MethodRun> runs(methods.size());
  // The costliest first (an ensemble runs N U-Nets), so no worker is left with a long method at the end.
  std::vector<size_t> order(methods.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return methods[a].models.size() > methods[b].models.size(); });
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(static_cast<size_t>(jobs));
  auto worker = [&](size_t w) {
    try {
      torch::NoGradGuard no_grad;
      ModelCache own(load);
      auto own_classifier = load_classifier(models.classifier);
      own_classifier->eval();
      for (size_t n = next++; n < methods.size(); n = next++) {
        const size_t i = order[n];
        runs[i] = run_method(methods[i], own, own_classifier, run_inputs, [&](const std::string& what) {
          std::lock_guard<std::mutex> lock(bar_mutex);
          bar.update(++done, what);
        });
      }
    } catch (...) {
      errors[w] = std::current_exception();
      next = methods.size();  // the others stop after their current method
    }
  };
  std::vector<std::thread> threads_of_jobs;
  for (int64_t w = 1; w < jobs; ++w) threads_of_jobs.emplace_back(worker, static_cast<size_t>(w));
  worker(0);
  for (auto& t : threads_of_jobs) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  std::vector<torch::Tensor> grid_rows;
  for (auto& run : runs) {
    grid_rows.push_back(run.grid_row);
    if (!run.attention.empty()) {
      result.attention_maps = run.attention;
      result.attention_stages = run.attention_stages;
    }
    result.methods.push_back(std::move(run.result));
  }
  bar.finish();
  result.grid = "grid.png";
  io::write_png((fs::path(o.output) / result.grid).string(),
                image_grid(grid_rows, static_cast<int64_t>(result.prompts.size())));

  // 5. Where each expert denoises best for the first prompt's true image, AFA as a fourth contender.
  {
    const auto experts = cache.get(models.experts);
    std::vector<models::UNet2DConditionModel> unets;
    for (const auto* e : experts) unets.push_back(e->unet);
    pipeline::GenerateOptions go;
    go.prompts = {caption(result.prompts.front())};
    go.cfg_scale = 1.0;
    const auto contexts = pipeline::encode_prompts(experts, go);
    const auto image = render(result.prompts.front(), kImageSize);
    const HeldoutSet one = make_heldout_set(*experts[0], {result.prompts.front()}, {0}, kImageSize);
    std::vector<std::unique_ptr<pipeline::Denoiser>> owned;
    std::vector<analysis::Contender> contenders;
    for (size_t i = 0; i < experts.size(); ++i) {
      owned.push_back(std::make_unique<pipeline::SingleUNet>(unets[i]));
      contenders.push_back({"expert " + models.expert_names[i], owned.back().get(), {contexts[i]}});
    }
    ensemble::MethodOptions afa;
    afa.method = "afa";
    afa.aggregator = (fs::path(models.aggregators) / "afa.safetensors").string();
    owned.push_back(ensemble::make_denoiser(afa, unets, 1.0));
    contenders.push_back({"AFA", owned.back().get(), contexts});
    analysis::RegionWinsOptions wo;
    wo.samples = 16;
    const auto wins = analysis::region_wins(contenders, schedulers::DDPMScheduler(experts[0]->scheduler_config),
                                            one.x0, wo);
    const fs::path adir = fs::path(o.output) / "analysis";
    fs::create_directories(adir);
    analysis::write_analysis(wins, {{"image", "the first prompt's true image"}, {"prompt", go.prompts[0]}}, image,
                             {{0, 0}, {1, 1}, {3, 3}}, adir.string());
    for (int64_t t : wo.timesteps) result.analysis_figures.emplace_back(t, "analysis/winners_t" + std::to_string(t) + ".svg");
    result.analysis_bars = "analysis/patch_bars.svg";
  }

  // 6. The report.
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.machine = std::to_string(jobs) + " parallel methods × " + std::to_string(threads) + " CPU thread" +
                   (threads > 1 ? "s" : "") + ", device " + o.device;
  write_report(result, o.output);
  fs::remove_all(work);
  return result;
}

}  // namespace afa::demo
