// afa bench-quality: the paper's quality protocol in one command — generate images for a prompt list with
// a method, then evaluate them with afa eval's metrics.
//   afa bench-quality --prompts FILE -m A [-m B ...] [--aggregator X | --method M] [--steps 50 --cfg-scale 7.5
//       --sampler ddim --images-per-prompt 4 -W 512 -H 512 --seed 0] --metrics clip-t,ir -o DIR [--shard i/n]
// DIR/images holds p<prompt>_<k>.png and the manifest prompts[.shard-i-of-n].jsonl (image -> prompt);
// DIR/bench-quality.json the settings (a rerun with other settings is refused, so one folder never mixes
// runs); DIR/report.json the metrics. Resumable: prompts whose images all exist are skipped. Shardable:
// --shard i/n generates the prompts i, i+n, ... (any number of processes or machines, same or separate
// folders) and leaves evaluation to `afa eval --images S0/images --images S1/images ...` over the union,
// which finds the prompts in the manifests. The plan (names, seeds) is metrics/quality_plan.h.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "afa/ensemble/make_denoiser.h"
#include "afa/io/image.h"
#include "afa/io/sha256.h"
#include "afa/metrics/clip_metrics.h"
#include "afa/metrics/image_prompts.h"
#include "afa/metrics/quality_plan.h"
#include "afa/pipeline/generation_parameters.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/schedulers/samplers.h"
#include "afa/util/atomic_file.h"
#include "afa/util/json_file.h"
#include "cmd_eval.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

namespace fs = std::filesystem;

struct BenchArgs {
  std::vector<std::string> models, configs;
  std::string prompts, negative, sampler = "ddim", device = "cpu", dtype = "f32", output, shard = "0/1";
  ensemble::MethodOptions method;
  int64_t steps = 50, width = 0, height = 0, per_prompt = 4;
  uint64_t seed = 0;
  double cfg = 7.5, eta = 0.0;
  EvalArgs eval;
  int threads = 0;
  bool quiet = false;
};

// What decides the images: a rerun into the same folder must agree on all of it.
nlohmann::json settings(const BenchArgs& a, const std::vector<std::string>& prompts) {
  std::string all;
  for (const auto& p : prompts) all += p + "\n";
  return {{"models", a.models},          {"configs", a.configs},
          {"method", a.method.method},   {"aggregator", a.method.aggregator},
          {"negative_prompt", a.negative}, {"sampler", a.sampler},
          {"steps", a.steps},            {"cfg_scale", a.cfg},
          {"eta", a.eta},                {"seed", a.seed},
          {"width", a.width},            {"height", a.height},
          {"images_per_prompt", a.per_prompt}, {"dtype", a.dtype},
          {"prompts", prompts.size()},   {"prompts_sha256", io::sha256_hex(all)}};
}

void check_or_write_settings(const std::string& path, const nlohmann::json& s) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    const auto old = read_json_file(path, "bench-quality settings");
    for (const auto& [k, v] : s.items())
      AFA_CHECK(old.contains(k) && old[k] == v, path, ": this folder holds a run with other settings (", k, ": ",
                old.contains(k) ? old[k].dump() : "absent", ", now ", v.dump(),
                "); use another -o folder, or the same settings to resume");
    return;
  }
  write_text_atomic(path, s.dump(2) + "\n");
}

int run_bench(BenchArgs a) {
  set_threads(a.threads);
  AFA_CHECK(!a.models.empty(), "bench-quality needs -m MODEL");
  const auto shard = metrics::Shard::parse(a.shard);
  const auto prompts = metrics::read_prompts_file(a.prompts);
  const auto jobs = metrics::plan_quality_run(prompts, a.per_prompt, a.seed, shard);

  // Every setting before any slow work, as afa generate does.
  pipeline::GenerateOptions o;
  o.negative_prompt = a.negative;
  o.steps = a.steps;
  o.cfg_scale = a.cfg;
  o.sampler = a.sampler;
  o.eta = a.eta;
  o.width = a.width;
  o.height = a.height;
  o.batch = a.per_prompt;
  o.progress = false;
  {
    auto sized = o;
    if (sized.width == 0) sized.width = 8;
    if (sized.height == 0) sized.height = 8;
    pipeline::validate(sized, 8);
  }
  schedulers::make_scheduler(o.sampler, schedulers::SchedulerConfig::from_json(nlohmann::json::object()), {o.eta});
  ensemble::prepare_method(a.method, a.models.size(), o.cfg_scale);

  const fs::path dir(a.output), images = dir / "images";
  std::error_code ec;
  fs::create_directories(images, ec);
  AFA_CHECK(!ec, a.output, ": cannot create the output folder (", ec.message(), ")");
  check_or_write_settings((dir / "bench-quality.json").string(), settings(a, prompts));
  std::map<std::string, std::string> manifest;
  for (const auto& j : jobs)
    for (const auto& n : j.images) manifest[n] = j.prompt;
  metrics::write_prompt_manifest((images / ("prompts" + shard.suffix() + ".jsonl")).string(), manifest);

  const bool evaluate = !a.eval.metrics.empty() && shard.count == 1;
  if (evaluate) {  // the metrics' arguments and weights files, before hours of sampling
    a.eval.images = {images.string()};
    a.eval.output = (dir / "report.json").string();
    a.eval.check_only = true;
    run_eval(a.eval);
    a.eval.check_only = false;
  }

  std::vector<const metrics::QualityJob*> todo;
  int64_t done_images = 0;
  for (const auto& j : jobs) {
    if (metrics::missing_images(j, images.string()).empty()) done_images += int64_t(j.images.size());
    else todo.push_back(&j);
  }
  std::cerr << "bench-quality: " << jobs.size() << " prompts in shard " << a.shard << " (" << prompts.size()
            << " in all), " << todo.size() << " to generate, " << done_images << " images already written\n";

  if (!todo.empty()) {
    pipeline::EnsembleLoadOptions lo;
    lo.load.config_files = a.configs;
    lo.load.device = parse_device(a.device);
    lo.load.dtype = parse_dtype(a.dtype, lo.load.device);
    lo.progress = !a.quiet;
    auto models = pipeline::load_ensemble(a.models, lo);
    const auto& sd0 = models.models.at(0);
    AFA_CHECK(sd0.vae, a.models.at(0), ": no VAE to decode the images");
    const int64_t native = sd0.unet->config().sample_size * sd0.vae->config().downscale_factor();
    if (o.width == 0) o.width = native;
    if (o.height == 0) o.height = native;
    auto denoiser = ensemble::make_denoiser(a.method, models.unets(), o.cfg_scale);
    const auto extra = ensemble::method_parameters(a.method);
    for (size_t t = 0; t < todo.size(); ++t) {
      const auto& j = *todo[t];
      o.prompt = j.prompt;
      o.seed = j.seed;
      const auto result = pipeline::generate(*denoiser, models.pointers(), o);
      for (int64_t k : metrics::missing_images(j, images.string()))
        io::write_png((images / j.images[size_t(k)]).string(), io::to_uint8_image(result.images[k]),
                      {{"parameters", pipeline::a1111_parameters(o, models.names(), extra, k)}});
      if (!a.quiet) std::cerr << "  prompt " << j.prompt_index << ": " << t + 1 << "/" << todo.size() << " done\n";
    }
  }

  if (evaluate) return run_eval(a.eval);
  if (!a.eval.metrics.empty())
    std::cerr << "shard " << a.shard << " done. When every shard is, evaluate their union: afa eval --images "
              << images.string() << " [--images OTHER_SHARD/images ...] --metrics " << a.eval.metrics << "\n";
  return 0;
}

}  // namespace

Run add_bench_quality(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  a->eval.metrics.clear();
  app.add_option("--prompts", a->prompts, "text file, one prompt per line")->required();
  app.add_option("-m,--model", a->models, "diffusers folder or single file (repeatable: an ensemble)")->required();
  app.add_option("--config", a->configs, "config for single files: LDM yaml and/or JSON (repeatable)");
  app.add_option("--aggregator", a->method.aggregator, "AFA aggregator checkpoint (folder or .safetensors)");
  app.add_option("--method", a->method.method, "single, afa (default with --aggregator), noise-avg, block-avg, "
                                               "magicfusion");
  app.add_option("-n,--negative-prompt", a->negative, "the negative prompt of every image");
  app.add_option("--steps", a->steps, "sampling steps")->capture_default_str();
  app.add_option("--cfg-scale", a->cfg, "classifier-free guidance scale")->capture_default_str();
  app.add_option("--sampler,--sampling-method", a->sampler, schedulers::sampler_list("|"))->capture_default_str();
  app.add_option("--eta", a->eta, "DDIM eta (0: deterministic)")->capture_default_str();
  app.add_option("--seed", a->seed, "prompt i draws its images from seed + i")->capture_default_str();
  app.add_option("-W,--width", a->width, "image width (default: the model's own size)");
  app.add_option("-H,--height", a->height, "image height (default: the model's own size)");
  app.add_option("--images-per-prompt", a->per_prompt, "images per prompt, one batch")->capture_default_str();
  app.add_option("-o,--output", a->output, "output folder (images/, bench-quality.json, report.json)")->required();
  app.add_option("--shard", a->shard, "i/n: generate prompts i, i+n, ... only (0 <= i < n); evaluate the union "
                                      "afterwards with afa eval")->capture_default_str();
  app.add_option("--metrics", a->eval.metrics, "afa eval's metrics after generating (default: none)");
  app.add_option("--reference", a->eval.reference, "fid, clip-i: reference folder (or fid statistics .npz)");
  app.add_option("--weights", a->eval.weights, "metric weights folder (see afa eval)");
  app.add_option("--cache-dir", a->eval.cache_dir, "reference feature cache (see afa eval)");
  app.add_flag("--no-cache", a->eval.no_cache, "no reference feature cache");
  app.add_option("--eval-batch-size", a->eval.batch_size, "images per metric forward pass")->capture_default_str();
  app.add_option("--device", a->device, "cpu or cuda (generation and metrics)")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32, f16 or bf16 (generation)")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  app.add_flag("-q,--quiet", a->quiet, "less progress output");
  return [a] {
    a->eval.device = a->device;
    a->eval.quiet = a->quiet;
    a->eval.threads = a->threads;
    return run_bench(*a);
  };
}

}  // namespace afa::app
