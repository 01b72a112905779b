#include "commands.h"

namespace afa::app {

std::map<CLI::App*, Run> add_commands(CLI::App& app) {
  app.description("afa: ensemble Stable Diffusion models with Adaptive Feature Aggregation");
  app.name("afa");
  app.require_subcommand(1);
  app.set_version_flag("--version", "afa 0.1");
  // An option given twice takes the last value, as wrapper scripts that append overrides expect
  // (repeatable options such as -m keep every value). Subcommands inherit this.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::map<CLI::App*, Run> runs;
  auto add = [&](const char* name, const char* help, Run (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runs[sub] = fn(*sub);
  };
  add("demo", "Rerun the paper's experiment on the shipped toy-world models: the table, images, report", add_demo);
  add("info", "Describe a checkpoint: format, components, dtype, parameters, inferred config", add_info);
  add("tokenize", "Print a prompt's 77 CLIP token ids (JSON) and its token count", add_tokenize);
  add("generate", "Text-to-image with one model or an ensemble", add_generate);
  add("serve", "AUTOMATIC1111's web API (txt2img, progress, ...) with the models loaded once", add_serve);
  add("train", "Train the AFA aggregators of an ensemble (or one model's U-Net or VAE) on image-caption data",
      add_train);
  add("init", "Create a new model with freshly initialised weights (to train from scratch)", add_init);
  add("merge", "Merge models (weighted, add-difference, TIES; per block; LoRA baking) into one file", add_merge);
  add("analyze", "Where each model denoises best for an image and its prompt (per patch and timestep)", add_analyze);
  add("eval", "Image-set metrics as their reference code computes them: FID, IS, CLIP-T/I, aesthetic, PickScore, "
      "HPSv2, ImageReward", add_eval);
  add("bench-quality", "The paper's quality protocol: generate for a prompt list with a method, then evaluate "
      "(resumable, shardable)", add_bench_quality);
  add("convert", "Store an aggregator set or a model in another dtype or layout (e.g. F16 .safetensors)", add_convert);
  add("toydata", "Draw the demo's captioned toy image set (train, held-out, expert subsets, tokenizer)", add_toydata);
  add("toyscore", "Train or apply the toy world's prompt-fidelity classifier; toy FID", add_toyscore);
  return runs;
}

}  // namespace afa::app
