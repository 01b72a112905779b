#include "afa/demo/demo_protocol.h"

#include <cstdlib>
#include <fstream>

#include "afa/demo/toy_split.h"
#include "afa/util/error.h"

#ifndef AFA_MODELS_DIR
#define AFA_MODELS_DIR "models"
#endif

namespace afa::demo {

void apply_quick(DemoOptions& o) {
  o.steps = {10};
  o.seeds = 1;
  o.prompts = 4;
  o.mse_images = 16;
  o.mse_timesteps = {200, 500, 800};
  o.reference_images = 200;
}

void validate(const DemoOptions& o) {
  AFA_CHECK(!o.steps.empty(), "--steps needs at least one value");
  for (int64_t s : o.steps) AFA_CHECK(s >= 1 && s <= 1000, "--steps values must be in 1..1000 (got ", s, ")");
  AFA_CHECK(o.seeds >= 1 && o.seeds <= 64, "--seeds must be in 1..64 (got ", o.seeds, ")");
  AFA_CHECK(o.prompts >= 1 && o.prompts <= 500, "--prompts must be in 1..500 (got ", o.prompts, ")");
  AFA_CHECK(o.mse_images >= 2, "--mse-images must be at least 2 (got ", o.mse_images, ")");
  for (int64_t t : o.mse_timesteps) AFA_CHECK(t >= 0 && t < 1000, "--mse-timesteps values must be in 0..999 (got ", t, ")");
  AFA_CHECK(!o.mse_timesteps.empty(), "--mse-timesteps needs at least one value");
  AFA_CHECK(o.reference_images >= 2, "--reference-images must be at least 2");
  AFA_CHECK(o.cfg_scale >= 0, "--cfg-scale must not be negative");
  AFA_CHECK(!o.output.empty(), "-o/--output must not be empty");
}

std::string default_models_dir() {
  if (const char* env = std::getenv("AFA_MODELS_DIR"); env && *env) return env;
  return AFA_MODELS_DIR;
}

namespace {
std::vector<ToyScene> scenes_of_split(int64_t count, uint64_t seed, bool held_out) {
  std::vector<ToyScene> out;
  for (uint64_t k = 0; static_cast<int64_t>(out.size()) < count; ++k) {
    ToyScene s = sample_scene(scene_seed(seed, k));
    if (is_held_out(caption(s)) == held_out) out.push_back(std::move(s));
  }
  return out;
}
}  // namespace

std::vector<ToyScene> heldout_scenes(int64_t count, uint64_t seed) { return scenes_of_split(count, seed, true); }
std::vector<ToyScene> training_scenes(int64_t count, uint64_t seed) { return scenes_of_split(count, seed, false); }

std::vector<ToyScene> demo_prompts(const DemoOptions& o) {
  if (o.prompts_file.empty()) return heldout_scenes(o.prompts);
  std::ifstream in(o.prompts_file);
  AFA_CHECK(in, o.prompts_file, ": cannot read the prompts file");
  std::vector<ToyScene> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto scene = parse_caption(line);
    AFA_CHECK(scene, o.prompts_file, ":", n, ": not a caption of the toy world: \"", line,
              "\" (the grammar: a small red circle at the top left and a large blue square at the bottom"
              " right on a striped grey background)");
    out.push_back(*scene);
  }
  AFA_CHECK(!out.empty(), o.prompts_file, ": no prompts in the file");
  return out;
}

}  // namespace afa::demo
