// afa generate: text-to-image with one model (or, with several -m and an aggregator, the ensemble).
#include <algorithm>
#include <random>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/attention_maps.h"
#include "afa/ensemble/magic_fusion.h"
#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "afa/merge/lora_apply.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/schedulers/scheduler.h"
#include "afa/util/progress.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::vector<std::string> models, configs, loras;
  std::string prompt, negative, sampler = "dpm++2m", output = "output.png", device = "cpu", dtype = "f32";
  std::string latents_in, latents_out;
  std::string aggregator, method, attn_maps;
  std::vector<int64_t> attn_blocks, attn_steps;
  ensemble::MagicFusionOptions mf;
  std::string mf_fuse = "above";
  int64_t steps = 20, width = 512, height = 512, batch = 1, seed = 42;
  double cfg = 7.5, eta = 0.0;
  int threads = 0;
};

// A1111's names for the samplers, so its PNG Info shows what it knows.
std::string a1111_sampler(const std::string& s) {
  if (s == "ddim") return "DDIM";
  if (s == "pndm") return "PLMS";
  if (s == "dpm++2m") return "DPM++ 2M";
  if (s == "euler") return "Euler";
  if (s == "euler_a") return "Euler a";
  if (s == "lms") return "LMS";
  return s;
}

std::string output_path(const std::string& base, int64_t i) {
  if (i == 0) return base;
  fs::path p(base);
  return (p.parent_path() / (p.stem().string() + "_" + std::to_string(i) + p.extension().string())).string();
}

int run_generate(const GenerateArgs& a) {
  set_threads(a.threads);
  AFA_CHECK(!a.models.empty(), "give a model with -m/--model");
  for (const auto& m : a.models) AFA_CHECK(fs::exists(m), m, ": no such file or folder (-m/--model)");
  torch::Device device = parse_device(a.device);
  pipeline::LoadOptions lo;
  lo.config_files = a.configs;
  lo.device = device;
  lo.dtype = parse_dtype(a.dtype, device);

  pipeline::GenerateOptions o;
  o.prompt = a.prompt;
  o.negative_prompt = a.negative;
  o.steps = a.steps;
  o.cfg_scale = a.cfg;
  o.sampler = a.sampler;
  o.eta = a.eta;
  o.width = a.width;
  o.height = a.height;
  o.batch = a.batch;
  o.seed = a.seed >= 0 ? uint64_t(a.seed) : uint64_t(std::random_device{}());
  // Fail on bad arguments before spending time on loading.
  pipeline::validate(o, 8);
  schedulers::make_scheduler(o.sampler, schedulers::SchedulerConfig::from_json(nlohmann::json::object()));
  if (!a.latents_in.empty()) {
    io::SafeTensorsFile f(a.latents_in);
    AFA_CHECK(f.contains("latents"), a.latents_in, ": no tensor named 'latents'");
    o.latents = f.get("latents").to(torch::kFloat32).clone();
  }
  std::string method = a.method;
  if (method.empty()) method = !a.aggregator.empty() ? "afa" : a.models.size() > 1 ? "" : "single";
  AFA_CHECK(!method.empty(), a.models.size(),
            " models need --aggregator PATH (AFA) or --method noise-avg|block-avg|magicfusion");
  AFA_CHECK(method == "single" || method == "afa" || method == "noise-avg" || method == "block-avg" ||
                method == "magicfusion",
            "--method must be afa, noise-avg, block-avg or magicfusion (got '", method, "')");
  AFA_CHECK(method != "magicfusion" || a.cfg > 1.0, "--method magicfusion blends guided noises: it needs --cfg-scale > 1");
  AFA_CHECK(a.mf_fuse == "above" || a.mf_fuse == "below", "--mf-fuse must be above or below (got '", a.mf_fuse, "')");
  AFA_CHECK(method != "afa" || !a.aggregator.empty(), "--method afa needs --aggregator PATH");
  AFA_CHECK(method == "afa" || a.aggregator.empty(), "--aggregator is only used by --method afa");
  AFA_CHECK(method == "single" || a.models.size() >= 2, "--method ", method, " needs at least two -m models");
  AFA_CHECK(a.attn_maps.empty() || method == "afa", "--attn-maps needs the afa method (an --aggregator)");
  // Aggregators are read before the models, so a bad file fails fast.
  ensemble::AggregatorSet aggregators;
  if (method == "afa") aggregators = ensemble::load_aggregators(a.aggregator);

  std::vector<merge::LoraSpec> loras;
  for (const auto& l : a.loras) {
    loras.push_back(merge::parse_lora_spec(l));
    AFA_CHECK(fs::is_regular_file(loras.back().path), loras.back().path, ": no such file (--lora)");
  }
  ProgressBar load_bar("loading", int64_t(a.models.size()));
  std::vector<pipeline::StableDiffusion> sds;
  for (size_t i = 0; i < a.models.size(); ++i) {
    lo.load_vae = i == 0;
    sds.push_back(pipeline::load_stable_diffusion(a.models[i], lo));
    merge::bake_loras_into(sds.back(), loras, a.configs);
    load_bar.update(int64_t(i + 1));
  }
  load_bar.finish();
  std::vector<const pipeline::StableDiffusion*> ptrs;
  for (const auto& s : sds) ptrs.push_back(&s);

  std::vector<models::UNet2DConditionModel> unets;
  for (const auto& s : sds) unets.push_back(s.unet);
  std::unique_ptr<pipeline::Denoiser> denoiser;
  ensemble::AfaEnsemble* afa = nullptr;
  if (method == "single") {
    denoiser = std::make_unique<pipeline::SingleUNet>(unets[0]);
  } else if (method == "noise-avg") {
    denoiser = std::make_unique<ensemble::NoiseAverage>(unets);
  } else if (method == "block-avg") {
    denoiser = std::make_unique<ensemble::BlockAverage>(unets);
  } else if (method == "magicfusion") {
    auto mf = a.mf;
    mf.fuse_above = a.mf_fuse == "above";
    denoiser = std::make_unique<ensemble::MagicFusion>(unets, mf);
  } else {
    aggregators.to(device, lo.dtype);
    auto e = std::make_unique<ensemble::AfaEnsemble>(unets, std::move(aggregators), a.aggregator);
    afa = e.get();
    denoiser = std::move(e);
  }

  pipeline::StepCallback on_step;
  if (afa && !a.attn_maps.empty()) {
    afa->record_maps = true;
    on_step = [&](int64_t step, int64_t total, const torch::Tensor&) {
      bool wanted = a.attn_steps.empty() ? (step == 0 || step == total - 1) : false;
      for (int64_t s : a.attn_steps) wanted = wanted || s == step || (s < 0 && total + s == step);
      if (!wanted) return;
      // The first image's conditional row (uncond rows come first under CFG).
      const int64_t row = o.cfg_scale > 1.0 ? o.batch : 0;
      std::vector<int64_t> stages;
      std::vector<torch::Tensor> maps;
      for (size_t i = 0; i < afa->last_maps.size(); ++i) {
        const int64_t k = afa->last_map_stages[i];
        if (!a.attn_blocks.empty() && std::find(a.attn_blocks.begin(), a.attn_blocks.end(), k) == a.attn_blocks.end())
          continue;
        stages.push_back(k);
        maps.push_back(afa->last_maps[i][row]);
      }
      if (!maps.empty()) ensemble::write_attention_maps(a.attn_maps, step, stages, maps);
    };
  }
  auto result = pipeline::generate(*denoiser, ptrs, o, on_step);
  if (!a.attn_maps.empty()) std::cerr << "wrote attention maps to " << a.attn_maps << "\n";

  if (!a.latents_out.empty()) io::save_safetensors(a.latents_out, {{"latents", result.latents.to(torch::kFloat32)}});
  std::string names;
  for (const auto& s : sds) names += (names.empty() ? "" : " + ") + s.name;
  for (int64_t i = 0; i < o.batch; ++i) {
    std::ostringstream params;
    params << o.prompt << "\nNegative prompt: " << o.negative_prompt << "\nSteps: " << o.steps
           << ", Sampler: " << a1111_sampler(o.sampler) << ", CFG scale: " << o.cfg_scale << ", Seed: " << o.seed
           << ", Size: " << o.width << "x" << o.height << ", Model: " << names;
    if (method != "single") params << ", Ensemble: " << method;
    if (!a.aggregator.empty()) params << ", Aggregator: " << fs::path(a.aggregator).filename().string();
    if (method == "magicfusion") {
      params << ", MagicFusion: general " << a.mf.general << " fuse " << a.mf_fuse << " " << a.mf.threshold
             << " else " << a.mf.outside;
      if (!a.mf.temperatures.empty()) {
        params << " temperatures";
        for (double t : a.mf.temperatures) params << " " << t;
      }
    }
    if (o.batch > 1) params << ", Batch size: " << o.batch << ", Batch pos: " << i;
    if (o.eta > 0) params << ", Eta: " << o.eta;
    params << ", Version: afa";
    std::string path = output_path(a.output, i);
    io::write_png(path, io::to_uint8_image(result.images[i]), {{"parameters", params.str()}});
    std::cerr << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace

Run add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  app.add_option("-m,--model", a->models, "diffusers folder or single-file .safetensors (repeatable)")->required();
  app.add_option("--config", a->configs, "config for single files: LDM yaml and/or JSON (repeatable)");
  app.add_option("--lora", a->loras, "kohya LoRA/LoCon FILE[:weight] baked into every -m model at load (repeatable)");
  app.add_option("-p,--prompt", a->prompt, "the prompt")->required();
  app.add_option("-n,--negative-prompt", a->negative, "the negative prompt");
  app.add_option("--steps", a->steps, "sampling steps")->capture_default_str();
  app.add_option("--cfg-scale", a->cfg, "classifier-free guidance scale")->capture_default_str();
  app.add_option("--sampler,--sampling-method", a->sampler, "ddim|pndm|dpm++2m|euler|euler_a|lms")
      ->capture_default_str();
  app.add_option("--eta", a->eta, "DDIM eta (0: deterministic)")->capture_default_str();
  app.add_option("--seed", a->seed, "seed (-1: random); reproduces torch.Generator('cpu').manual_seed")
      ->capture_default_str();
  app.add_option("-W,--width", a->width, "image width (multiple of 8)")->capture_default_str();
  app.add_option("-H,--height", a->height, "image height (multiple of 8)")->capture_default_str();
  app.add_option("-b,--batch-count", a->batch, "images per prompt")->capture_default_str();
  app.add_option("-o,--output", a->output, "output PNG (more images: name_1.png, ...)")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  app.add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32, f16 or bf16")->capture_default_str();
  app.add_option("--latents-in", a->latents_in, "initial unit-variance latents (safetensors, tensor 'latents')");
  app.add_option("--latents-out", a->latents_out, "write the final latents (safetensors, tensor 'latents', F32)");
  app.add_option("--aggregator", a->aggregator, "AFA aggregator checkpoint (folder or .safetensors)");
  app.add_option("--method", a->method,
                 "ensemble method: afa (default with --aggregator), noise-avg, block-avg, magicfusion");
  app.add_option("--mf-general", a->mf.general, "MagicFusion: model whose unconditional noise is the saliency "
                 "reference (index of -m)")->capture_default_str();
  app.add_option("--mf-temperature", a->mf.temperatures, "MagicFusion: saliency softmax temperature per model "
                 "(default 1 each)")->delimiter(',');
  app.add_option("--mf-threshold", a->mf.threshold, "MagicFusion: timestep (0-1000) where fusion starts or stops")
      ->capture_default_str();
  app.add_option("--mf-fuse", a->mf_fuse, "MagicFusion: fuse at timesteps above (>=) or below (<) the threshold")
      ->capture_default_str();
  app.add_option("--mf-outside", a->mf.outside, "MagicFusion: model used at the unfused timesteps (index of -m)")
      ->capture_default_str();
  app.add_option("--attn-maps", a->attn_maps, "write AFA attention-map PNGs (per model, and a grid) to DIR");
  app.add_option("--attn-blocks", a->attn_blocks, "aggregation points to draw (default: all)")->delimiter(',');
  app.add_option("--attn-steps", a->attn_steps, "steps to draw, negative from the end (default: 0,-1)")
      ->delimiter(',');
  return [a] { return run_generate(*a); };
}

}  // namespace afa::app
