// afa merge: the static baselines — weighted sums, add-difference and TIES of N models, per block (MBW),
// with LoRAs baked in — streamed tensor by tensor into one LDM single file.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "afa/merge/auto_mbw.h"
#include "afa/merge/diffusers_output.h"
#include "afa/merge/image_scorer.h"
#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/util/progress.h"
#include "commands.h"
#include "options.h"

namespace afa::app {

namespace {

namespace fs = std::filesystem;

struct MergeArgs {
  std::vector<std::string> models, loras, configs;
  std::string format = "ldm";
  std::string output, method = "weighted", alpha, block_weights, preset, block_map = "supermerger", dtype = "f16";
  std::optional<double> base_alpha;
  double density = 1.0;
  bool dare = false, no_hash = false;
  int64_t seed = 0;
  int threads = 0;
  // --search
  bool search = false, mid_pass = false;
  std::string prompts_file, scorer, search_dir, sampler = "ddim", negative;
  double search_step = 0.1, cfg = 7.5;
  int64_t budget_images = 0, steps = 20, size = 512;
};

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream f(path);
  AFA_CHECK(f.good(), path, ": cannot read (--prompts)");
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  AFA_CHECK(!out.empty(), path, ": no prompts (--prompts: one per line)");
  return out;
}

// autoMBW: search the block weights on images the merges generate; the best go into the options.
void search(merge::MergeOptions& o, const MergeArgs& a) {
  AFA_CHECK(!a.prompts_file.empty() && !a.scorer.empty(), "--search needs --prompts FILE and --scorer COMMAND");
  AFA_CHECK(o.method != merge::Method::kWeighted || o.models.size() == 2,
            "--search with --method weighted needs exactly two models");
  merge::ImageTrialOptions t;
  t.prompts = read_prompts(a.prompts_file);
  t.negative_prompt = a.negative;
  t.steps = a.steps;
  t.width = t.height = a.size;
  t.cfg_scale = a.cfg;
  t.sampler = a.sampler;
  t.seed = static_cast<uint64_t>(a.seed);
  t.command = a.scorer;
  t.config_files = a.configs;
  t.work_dir = a.search_dir.empty() ? a.output + ".search" : a.search_dir;
  fs::create_directories(t.work_dir);
  pipeline::LoadOptions lo;
  lo.config_files = a.configs;
  auto sd = pipeline::load_stable_diffusion(o.models[0], lo);
  merge::SearchOptions so;
  so.step = a.search_step;
  so.mid_pass = a.mid_pass;
  so.log_path = (fs::path(t.work_dir) / "search_log.jsonl").string();
  const int64_t per_trial = static_cast<int64_t>(t.prompts.size());
  so.budget = a.budget_images > 0 ? std::max<int64_t>(1, a.budget_images / per_trial) : 0;
  if (o.block_weights) so.start = *o.block_weights;
  else if (o.alpha.size() == 1) so.start.alpha.fill(o.alpha[0]);
  auto on_best = [&](const merge::SearchResult& r) {
    std::cerr << "best so far (" << r.trials + r.replayed << " trials): score " << r.best_score
              << "  --block-weights " << r.best.to_string() << "\n";
  };
  merge::SearchResult r = merge::search_block_weights(merge::image_scorer(sd, o, t), so, on_best);
  std::cerr << "search: " << r.trials << " trials scored (" << r.trials * per_trial << " images), " << r.replayed
            << " replayed from " << so.log_path << (r.budget_exhausted ? "; budget reached, rerun to resume" : "") << "\n";
  std::cout << "--block-weights " << r.best.to_string() << "\n";
  o.block_weights = r.best;
}

merge::MergeOptions to_options(const MergeArgs& a) {
  merge::MergeOptions o;
  AFA_CHECK(!a.models.empty(), "give the models to merge with -m/--model");
  for (const auto& m : a.models) AFA_CHECK(fs::exists(m), m, ": no such file or folder (-m/--model)");
  AFA_CHECK(a.format == "ldm" || a.format == "diffusers", "--format must be ldm or diffusers (got '", a.format, "')");
  AFA_CHECK(a.format != "ldm" || fs::path(a.output).extension() == ".safetensors", a.output,
            ": -o/--output must name a .safetensors file (or give --format diffusers for a folder)");
  AFA_CHECK(a.configs.empty() || a.format == "diffusers" || a.search,
            "--config applies only with --format diffusers or --search");
  o.models = a.models;
  o.method = merge::parse_method(a.method);
  if (!a.alpha.empty()) o.alpha = merge::parse_numbers(a.alpha, "--alpha");
  AFA_CHECK(a.block_weights.empty() || a.preset.empty(), "give --block-weights or --preset, not both");
  std::string values = a.block_weights;
  if (!a.preset.empty()) {
    auto p = merge::block_preset(a.preset);
    if (!p) {
      std::string names;
      for (const auto& n : merge::block_preset_names()) names += (names.empty() ? "" : ", ") + n;
      fail("--preset: unknown preset '", a.preset, "' (known: ", names, ")");
    }
    for (size_t i = 0; i < p->size(); ++i) values += (i ? "," : "") + std::to_string((*p)[i]);
  }
  if (!values.empty()) {
    // As in supermerger, the plain alpha is the BASE alpha of a block-weighted merge.
    std::optional<double> base = a.base_alpha;
    if (!base && o.alpha.size() == 1 && merge::parse_numbers(values, "--block-weights").size() == 25) base = o.alpha[0];
    o.block_weights = merge::parse_block_weights(values, base);
  } else {
    AFA_CHECK(!a.base_alpha, "--base-alpha applies only with --block-weights or --preset");
  }
  o.block_map = merge::parse_block_convention(a.block_map);
  o.density = a.density;
  o.dare = a.dare;
  AFA_CHECK(a.seed >= 0, "--seed must be >= 0");
  o.seed = static_cast<uint64_t>(a.seed);
  o.dtype = a.dtype;
  for (const auto& l : a.loras) {
    o.loras.push_back(merge::parse_lora_spec(l));
    AFA_CHECK(fs::is_regular_file(o.loras.back().path), o.loras.back().path, ": no such file (--lora)");
  }
  o.hash_inputs = !a.no_hash;
  return o;
}

int run_merge(const MergeArgs& a) {
  set_threads(a.threads);
  merge::MergeOptions options = to_options(a);
  if (a.search) search(options, a);
  merge::Merger m(options);
  ProgressBar bar("merge", static_cast<int64_t>(m.plan().size()));
  auto tick = [&](size_t done, size_t) { bar.update(static_cast<int64_t>(done)); };
  if (a.format == "diffusers") {
    merge::merge_to_diffusers(m, a.output, a.configs, tick);
  } else {
    merge::merge_to_file(m, a.output, tick);
  }
  bar.finish();
  size_t merged = 0, lora = 0;
  for (const auto& p : m.plan()) merged += p.merged, lora += p.lora;
  std::cerr << "wrote " << a.output << ": " << m.plan().size() << " tensors (" << merged << " merged, " << lora
            << " changed by LoRA) in "
            << format_duration(bar.elapsed_seconds()) << "\n";
  return 0;
}

}  // namespace

Run add_merge(CLI::App& app) {
  auto a = std::make_shared<MergeArgs>();
  app.add_option("-m,--model", a->models,
                 "model to merge (repeatable, first = A): LDM .safetensors or .ckpt/.pt/.pth file, or diffusers folder")->required();
  app.add_option("-o,--output", a->output,
                 "output .safetensors (LDM naming), or a new folder with --format diffusers; written atomically")->required();
  app.add_option("--format", a->format, "ldm (single file, default) or diffusers (folder)");
  app.add_option("--config", a->configs,
                 "--format diffusers from a single file: its configs, LDM yaml and/or JSON (repeatable; see README)");
  app.add_option("--method", a->method, "weighted | add-difference (A + alpha*(B - C)) | ties (first model = base)");
  app.add_option("--alpha", a->alpha,
                 "weighted: a for (1-a)*A + a*B (default 0.5), or one weight per model summing to 1; "
                 "add-difference: alpha (default 1); ties: lambda (default 1)");
  app.add_option("--block-weights", a->block_weights,
                 "MBW: 25 values IN00..IN11,M00,OUT00..OUT11 (with --base-alpha or --alpha for BASE) or 26 with BASE first");
  app.add_option("--base-alpha", a->base_alpha, "MBW: alpha of the keys outside the U-Net (text encoder, VAE)");
  app.add_option("--preset", a->preset,
                 "MBW preset instead of --block-weights: GRAD_V, GRAD_A, FLAT_25, FLAT_75, ALL_A, ALL_B, IN_ONLY, "
                 "MID_ONLY, OUT_ONLY, SMOOTHSTEP, REVERSE_SMOOTHSTEP, COSINE, REVERSE_COSINE");
  app.add_option("--block-map", a->block_map,
                 "supermerger (time_embed -> IN00, out.* -> OUT11; default) or base-ends (both -> BASE)");
  app.add_option("--density", a->density, "ties: fraction of each task vector kept (default 1)");
  app.add_flag("--dare", a->dare, "ties: drop entries at random (keep with probability --density, rescale) instead of trimming");
  app.add_option("--seed", a->seed, "--dare: seed of the random drop; --search: seed of prompt 1 (default 0)");
  app.add_option("--dtype", a->dtype,
                 "output dtype f16 | f32 | bf16 (f16 as merged checkpoints are shared; f32 keeps the float32 merge)")
      ->capture_default_str();
  app.add_option("--lora", a->loras, "kohya LoRA/LoCon FILE[:weight] to bake in after the merge (repeatable)");
  app.add_flag("--no-hash", a->no_hash, "record inputs by name and size instead of sha256 (faster)");
  app.add_option("--threads", a->threads, "CPU threads (default: all cores)");
  app.add_flag("--search", a->search,
               "autoMBW: search the block weights on images scored by --scorer, then write the best merge");
  app.add_option("--prompts", a->prompts_file, "--search: prompts, one per line (one image each per trial)");
  app.add_option("--scorer", a->scorer, "--search: command run as 'COMMAND FOLDER'; its last output line is the score");
  app.add_option("--search-dir", a->search_dir, "--search: trial images and search_log.jsonl (resumable; default OUT.search)");
  app.add_option("--budget-images", a->budget_images, "--search: images to generate at most in this run (0: no limit)");
  app.add_flag("--mid-pass", a->mid_pass, "--search: autoMBW's binary mid pass instead of every grid value");
  app.add_option("--search-step", a->search_step, "--search: grid step of the weights (default 0.1)");
  app.add_option("--steps", a->steps, "--search: sampling steps per image (default 20)");
  app.add_option("--size", a->size, "--search: image width and height (default 512)");
  app.add_option("--cfg-scale", a->cfg, "--search: guidance scale (default 7.5)");
  app.add_option("--sampler", a->sampler, "--search: sampler (default ddim)");
  app.add_option("-n,--negative", a->negative, "--search: negative prompt");
  return [a] { return run_merge(*a); };
}

}  // namespace afa::app
