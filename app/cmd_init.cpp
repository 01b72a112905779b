// afa init --config MODEL.json --tokenizer DIR -o OUT: a new Stable Diffusion model with freshly
// initialised weights, as a diffusers folder, to train from scratch (afa train --vae, then --unet).
#include <iostream>

#include "afa/pipeline/new_model.h"
#include "afa/util/json_file.h"
#include "commands.h"

namespace afa::app {

namespace {

struct InitArgs {
  std::string config, tokenizer, output;
  uint64_t seed = 0;
};

int run_init(const InitArgs& a) {
  pipeline::NewModelOptions o;
  o.configs = read_json_file(a.config, "model configs");
  o.tokenizer_dir = a.tokenizer;
  o.seed = a.seed;
  pipeline::create_model_folder(a.output, o);
  std::cerr << "wrote a new model to " << a.output << "\n";
  return 0;
}

}  // namespace

Run add_init(CLI::App& app) {
  auto a = std::make_shared<InitArgs>();
  app.add_option("--config", a->config,
                 "JSON {\"unet\": {...}, \"vae\": {...}, \"text_encoder\": {...}, \"scheduler\": {...}} of "
                 "diffusers/transformers configs (absent keys: class defaults)")
      ->required();
  app.add_option("--tokenizer", a->tokenizer, "folder with the vocabulary (vocab.json, merges.txt)")->required();
  app.add_option("-o,--output", a->output, "the new diffusers folder")->required();
  app.add_option("--seed", a->seed, "seed of the initial weights")->capture_default_str();
  return [a] { return run_init(*a); };
}

}  // namespace afa::app
