// afa: ensembles Stable Diffusion models by Adaptive Feature Aggregation.
// One file per subcommand (cmd_*.cpp); this file parses and maps errors to exit codes:
// 0 success, 2 bad input (arguments, files, models), 1 anything unexpected.
#include <c10/util/Exception.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <new>

#include "afa/util/error.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"afa: ensemble Stable Diffusion models with Adaptive Feature Aggregation", "afa"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "afa 0.1");
  // An option given twice takes the last value, as wrapper scripts that append overrides expect
  // (repeatable options such as -m keep every value). Subcommands inherit this.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  std::map<CLI::App*, afa::app::Run> runs;
  auto add = [&](const char* name, const char* help, afa::app::Run (*fn)(CLI::App&)) {
    CLI::App* sub = app.add_subcommand(name, help);
    runs[sub] = fn(*sub);
  };
  add("demo", "Rerun the paper's experiment on the shipped toy-world models: the table, images, report",
      afa::app::add_demo);
  add("info", "Describe a checkpoint: format, components, dtype, parameters, inferred config", afa::app::add_info);
  add("tokenize", "Print a prompt's 77 CLIP token ids (JSON) and its token count", afa::app::add_tokenize);
  add("generate", "Text-to-image with one model or an ensemble", afa::app::add_generate);
  add("train", "Train the AFA aggregators of an ensemble (or one model's U-Net or VAE) on image-caption data",
      afa::app::add_train);
  add("init", "Create a new model with freshly initialised weights (to train from scratch)", afa::app::add_init);
  add("merge", "Merge models (weighted, add-difference, TIES; per block; LoRA baking) into one file", afa::app::add_merge);
  add("analyze", "Where each model denoises best for an image and its prompt (per patch and timestep)",
      afa::app::add_analyze);
  add("eval", "Image-set metrics as their reference code computes them: FID, IS, CLIP-T/I, aesthetic, PickScore, "
      "HPSv2, ImageReward", afa::app::add_eval);
  add("bench-quality", "The paper's quality protocol: generate for a prompt list with a method, then evaluate "
      "(resumable, shardable)", afa::app::add_bench_quality);
  add("convert", "Store an aggregator set or a model in another dtype or layout (e.g. F16 .safetensors)",
      afa::app::add_convert);
  add("toydata", "Draw the demo's captioned toy image set (train, held-out, expert subsets, tokenizer)",
      afa::app::add_toydata);
  add("toyscore", "Train or apply the toy world's prompt-fidelity classifier; toy FID", afa::app::add_toyscore);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  try {
    for (auto* sub : app.get_subcommands()) return runs.at(sub)();
  } catch (const afa::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    // The user's files and folders: permissions, a full disk, a path that is not there.
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {
    // Out of memory is the machine's limit, not a bug; anything else from torch is reported as one,
    // without the C++ stack trace.
    const std::string what = e.what_without_backtrace();
    const bool oom = what.find("can't allocate memory") != std::string::npos ||
                     what.find("out of memory") != std::string::npos;
    std::cerr << (oom ? "error: out of memory: " : "internal error: ") << what.substr(0, what.find('\n')) << "\n";
    return oom ? 2 : 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
