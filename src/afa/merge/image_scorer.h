// The image side of a block-weight search (afa merge --search): each trial writes the merge with the
// trial's block weights into one loaded model (no file), generates one image per prompt with fixed seeds
// into a fresh folder, and runs a scorer command on that folder. The scorer is any program: it is run as
// `COMMAND FOLDER`, must exit 0, and its last line of output is the score (higher is better) — e.g. an
// `afa eval` metric, or the demo world's prompt-fidelity score.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "afa/merge/auto_mbw.h"
#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"

namespace afa::merge {

struct ImageTrialOptions {
  std::vector<std::string> prompts;
  std::string negative_prompt;
  int64_t steps = 20, width = 512, height = 512;
  double cfg_scale = 7.5;
  std::string sampler = "ddim";
  uint64_t seed = 1;                     // prompt i uses seed + i, in every trial
  std::string command;                   // the scorer
  std::string work_dir;                  // trial folders trial_<n>/ go here
  std::vector<std::string> config_files; // for single-file inputs
};

// `sd` is loaded from the merge's first model and is overwritten by every trial; `merge` gives the
// inputs, method and alpha (its block weights are replaced by the trial's).
BlockScorer image_scorer(pipeline::StableDiffusion& sd, const MergeOptions& merge, const ImageTrialOptions& o);

// Runs `command folder` and returns the number on its last output line; afa::Error otherwise.
double run_scorer(const std::string& command, const std::string& folder);

}  // namespace afa::merge
