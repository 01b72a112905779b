// `afa demo`'s protocol: which shipped models, which held-out prompts and seeds, how many steps, and how
// much of the held-out set the measures use. Everything is fixed by these options, so two runs with the
// same options give the same table (up to the time column).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "afa/demo/toy_world.h"

namespace afa::demo {

// The seed of the toy data the shipped models were trained on (scripts/demo_world.sh: toydata --seed 1).
constexpr uint64_t kDemoDataSeed = 1;

struct DemoOptions {
  std::string models_dir;              // the shipped models (default: default_models_dir())
  std::string output = "demo-out";
  std::vector<int64_t> steps = {50, 20, 10};   // DDIM steps of the fewer-steps study; the first is the main one
  int64_t seeds = 1;                   // initial noises per prompt (prompt i, noise k: seed i * seeds + k)
  int64_t prompts = 8;                 // held-out prompts (the first of the held-out stream)
  std::string prompts_file;            // or captions from a file, one per line (the toy grammar)
  double cfg_scale = 7.5;
  int64_t mse_images = 64;             // held-out images for the denoising MSE
  std::vector<int64_t> mse_timesteps = {200, 500, 800};
  int64_t reference_images = 600;      // held-out true images for the toy FID
  std::vector<std::string> methods;    // rows to run (DemoMethod ids); empty: all
  bool quick = false;                  // the CI run: fewer of everything (apply_quick)
  bool retrain_auto_mbw = false;       // search autoMBW's block weights again instead of the cached ones
  int64_t auto_mbw_budget = 60;        // trials of that search
  std::string device = "cpu";
  int threads = 0;                     // per method; 0: one (the toy models are too small for more to pay)
  int64_t jobs = 0;                    // methods run in parallel; 0: one per core
  bool progress = true;
};

// --quick: 1 seed, 4 prompts, 10 steps, 16 MSE images, 200 reference images (every method still runs).
void apply_quick(DemoOptions& o);
// Throws afa::Error naming the option when a value is impossible.
void validate(const DemoOptions& o);

// The shipped models: $AFA_MODELS_DIR, else the source tree's models/.
std::string default_models_dir();

// The first `count` held-out scenes of the demo data stream (the same as the first lines of
// `afa toydata --seed 1`'s heldout.jsonl).
std::vector<ToyScene> heldout_scenes(int64_t count, uint64_t seed = kDemoDataSeed);
// The first `count` training scenes of a stream (autoMBW searches on these, never on held-out ones).
std::vector<ToyScene> training_scenes(int64_t count, uint64_t seed);

// The prompts of the run: the file's captions (each must parse; the error names file and line) or the
// first `prompts` held-out scenes.
std::vector<ToyScene> demo_prompts(const DemoOptions& o);

}  // namespace afa::demo
