// afa generate: text-to-image with one model or an ensemble, in the steps of diffusers'
// StableDiffusionPipeline.__call__: check, load, build the method, sample, write.
#include <filesystem>
#include <iostream>
#include <cerrno>
#include <cstdlib>

#include "afa/ensemble/attention_maps.h"
#include "afa/ensemble/make_denoiser.h"
#include "afa/io/image.h"
#include "afa/io/safetensors.h"
#include "afa/merge/lora_apply.h"
#include "afa/pipeline/generation_parameters.h"
#include "afa/pipeline/load_ensemble.h"
#include "afa/pipeline/text_to_image.h"
#include "afa/schedulers/samplers.h"
#include "afa/text/clip_tokenizer.h"
#include "afa/util/atomic_file.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::vector<std::string> models, configs, loras;
  std::string prompt, negative, sampler = "dpm++2m", output = "output.png", device = "cpu", dtype = "f32";
  std::string latents_in, latents_out;
  MethodArgs method;
  ensemble::AttentionMapRequest attn;
  int64_t steps = 20, width = 0, height = 0, batch = 1;  // 0: the model's own size
  std::string seed = "42";
  double cfg = 7.5, eta = 0.0;
  int threads = 0;
  bool quiet = false;
};

std::string output_path(const std::string& base, int64_t i) {
  if (i == 0) return base;
  fs::path p(base);
  return (p.parent_path() / (p.stem().string() + "_" + std::to_string(i) + p.extension().string())).string();
}

// --seed: 0 .. 2^64 - 1 as diffusers' generator takes any uint64, or -1 for a random one.
uint64_t parse_seed(const std::string& s) {
  if (s == "-1") return pipeline::random_seed();
  const bool digits = !s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos;
  errno = 0;
  const unsigned long long v = digits ? std::strtoull(s.c_str(), nullptr, 10) : 0;
  AFA_CHECK(digits && errno != ERANGE, "--seed must be an integer in 0..18446744073709551615 or -1 for a random seed"
            " (got '", s, "')");
  return v;
}

// CLIP reads 75 tokens; the rest of a longer prompt is dropped, as in diffusers. Say so.
void warn_if_truncated(const text::ClipTokenizer& tok, const std::string& prompt, const char* what) {
  const auto enc = tok.encode(prompt);
  if (enc.truncated())
    std::cerr << "warning: " << what << " has " << enc.n_tokens_untruncated - 2 << " tokens; CLIP reads only the first "
              << tok.max_length() - 2 << ", the last " << enc.n_tokens_untruncated - enc.n_tokens
              << " are ignored (afa tokenize shows them)\n";
}

int run_generate(GenerateArgs a) {
  set_threads(a.threads);
  // 1. Check every argument before any slow work: generation options, sampler, method, aggregators.
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
  o.seed = parse_seed(a.seed);
  o.progress = !a.quiet;
  {
    auto sized = o;  // an unset size is the model's, known after loading
    if (sized.width == 0) sized.width = 8;
    if (sized.height == 0) sized.height = 8;
    pipeline::validate(sized, 8);
  }
  schedulers::make_scheduler(o.sampler, schedulers::SchedulerConfig::from_json(nlohmann::json::object()), {o.eta});
  resolve_method_options(a.method);
  auto& method = a.method.method;
  if (!a.attn.dir.empty()) {
    std::error_code ec;
    AFA_CHECK(!fs::exists(a.attn.dir, ec) || fs::is_directory(a.attn.dir, ec), a.attn.dir,
              ": --attn-maps needs a folder, this is a file");
    fs::create_directories(a.attn.dir, ec);
    AFA_CHECK(!ec, a.attn.dir, ": cannot create the --attn-maps folder (", ec.message(), ")");
    for (int64_t s : a.attn.steps)
      AFA_CHECK(s >= -o.steps && s < o.steps, "--attn-steps: ", s, " is not a step of this run (0..", o.steps - 1,
                ", or -1..-", o.steps, " from the end)");
  }
  method.attention_maps = !a.attn.dir.empty();
  ensemble::prepare_method(method, a.models.size(), o.cfg_scale);
  std::vector<merge::LoraSpec> loras;
  for (const auto& l : a.loras) {
    loras.push_back(merge::parse_lora_spec(l));
    AFA_CHECK(fs::is_regular_file(loras.back().path), loras.back().path, ": no such file (--lora)");
  }
  // Every output location before any compute (a bad -o must not cost a whole sampling run).
  for (int64_t i = 0; i < o.batch; ++i) check_output_file(output_path(a.output, i), "-o/--output");
  if (!a.latents_out.empty()) check_output_file(a.latents_out, "--latents-out");
  if (!a.latents_in.empty()) {
    io::SafeTensorsFile f(a.latents_in);
    AFA_CHECK(f.contains("latents"), a.latents_in, ": no tensor named 'latents'");
    o.latents = f.get("latents").to(torch::kFloat32).clone();
  }

  // 2. Load the models (one VAE, a text encoder per model).
  pipeline::EnsembleLoadOptions lo;
  lo.load.config_files = a.configs;
  lo.load.device = parse_device(a.device);
  lo.load.dtype = parse_dtype(a.dtype, lo.load.device);
  lo.progress = !a.quiet;
  auto models = pipeline::load_ensemble(a.models, lo);
  for (auto& m : models.models) merge::bake_loras_into(m, loras, a.configs);  // --lora: into every model
  // No -W/-H: the size the model was trained at, as diffusers does (sample_size x the VAE's factor).
  if (o.width == 0) o.width = models.native_size();
  if (o.height == 0) o.height = models.native_size();
  const auto n_points = int64_t(models.unets().at(0)->stages().size());
  for (int64_t b : a.attn.blocks)
    AFA_CHECK(b >= 0 && b < n_points, "--attn-blocks: ", b, " is not an aggregation point of these U-Nets (0..",
              n_points - 1, ")");
  warn_if_truncated(*models.models[0].tokenizer, o.prompt, "the prompt");
  warn_if_truncated(*models.models[0].tokenizer, o.negative_prompt, "the negative prompt");

  // 3. Build the method's denoiser.
  auto denoiser = ensemble::make_denoiser(method, models.unets(), o.cfg_scale);

  // 4. Sample and decode (writing attention maps on the way when asked).
  pipeline::StepCallback on_step;
  if (!a.attn.dir.empty()) {
    a.attn.row = o.cfg_scale > 1.0 ? o.batch : 0;  // the first image's conditional row (uncond rows come first)
    on_step = ensemble::attention_map_writer(*denoiser, a.attn);
  }
  auto result = pipeline::generate(*denoiser, models.pointers(), o, on_step);
  if (!a.attn.dir.empty()) std::cerr << "wrote attention maps to " << a.attn.dir << "\n";

  // 5. Write the latents and the PNGs, with A1111's parameters text.
  if (!a.latents_out.empty()) io::save_safetensors(a.latents_out, {{"latents", result.latents.to(torch::kFloat32)}});
  const auto pngs = pipeline::generation_pngs(result, o, models.names(), ensemble::method_parameters(method));
  for (int64_t i = 0; i < o.batch; ++i) {
    std::string path = output_path(a.output, i);
    io::write_file_atomic(path, pngs[size_t(i)]);
    std::cerr << "wrote " << path << "\n";
  }
  return 0;
}

}  // namespace

Run add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  app.add_option("-m,--model", a->models, "diffusers folder or single file (.safetensors or .ckpt/.pt/.pth) (repeatable)")->required();
  app.add_option("--config", a->configs, "config for single files: LDM yaml and/or JSON (repeatable)");
  app.add_option("--lora", a->loras, "kohya LoRA/LoCon FILE[:weight] baked into every -m model at load (repeatable)");
  app.add_option("-p,--prompt", a->prompt, "the prompt")->required();
  app.add_option("-n,--negative-prompt", a->negative, "the negative prompt");
  app.add_option("--steps", a->steps, "sampling steps")->capture_default_str();
  app.add_option("--cfg-scale", a->cfg, "classifier-free guidance scale")->capture_default_str();
  app.add_option("--sampler,--sampling-method", a->sampler, schedulers::sampler_list("|"))
      ->capture_default_str();
  app.add_option("--eta", a->eta, "DDIM eta (0: deterministic)")->capture_default_str();
  app.add_option("--seed", a->seed, "seed (-1: random); reproduces torch.Generator('cpu').manual_seed")
      ->capture_default_str();
  app.add_option("-W,--width", a->width, "image width (multiple of 8; default: the model's own size)");
  app.add_option("-H,--height", a->height, "image height (multiple of 8; default: the model's own size)");
  app.add_option("-b,--batch-count", a->batch, "images per prompt")->capture_default_str();
  app.add_option("-o,--output", a->output, "output PNG (more images: name_1.png, ...)")->capture_default_str();
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  app.add_flag("-q,--quiet", a->quiet, "no progress output (off a terminal: a line every few seconds)");
  app.add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  app.add_option("--dtype", a->dtype, "f32, f16 or bf16")->capture_default_str();
  app.add_option("--latents-in", a->latents_in, "initial unit-variance latents (safetensors, tensor 'latents')");
  app.add_option("--latents-out", a->latents_out, "write the final latents (safetensors, tensor 'latents', F32)");
  add_method_options(app, a->method);
  app.add_option("--attn-maps", a->attn.dir, "write AFA attention-map PNGs (per model, and a grid) to DIR");
  app.add_option("--attn-blocks", a->attn.blocks, "aggregation points to draw (default: all)")->delimiter(',');
  app.add_option("--attn-steps", a->attn.steps, "steps to draw, negative from the end (default: 0,-1)")
      ->delimiter(',');
  return [a] { return run_generate(*a); };
}

}  // namespace afa::app
