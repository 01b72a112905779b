// autoMBW in the demo: the chained three-model MBW merge (demo_methods.h) with its 25 U-Net block weights
// searched by merge::search_block_weights, each trial scored by toy prompt fidelity of images generated
// for *training* prompts (never the held-out ones the table uses). The result is cached beside the
// models (merges/auto_mbw.json) and searched again only when asked (--retrain).
#pragma once

#include <string>

#include "afa/demo/demo_methods.h"
#include "afa/demo/toy_classifier.h"

namespace afa::demo {

struct AutoMbwOptions {
  bool retrain = false;     // search even when the cache exists
  int64_t budget = 60;      // trials
  double step = 0.5;        // values tried per block: 0, 0.5, 1
  int64_t prompts = 8;      // training prompts per trial
  int64_t steps = 10;       // DDIM steps per trial image
  std::string work;         // folder for the trial merges and the trial log
  bool progress = true;
};

struct AutoMbwResult {
  merge::BlockWeights weights;
  double score = 0;         // mean attribute accuracy on the training prompts
  int64_t trials = 0;
  bool searched = false;    // false: read from the cache
};

// Reads models.auto_mbw, or searches (and writes it atomically) when it is missing or `retrain`.
AutoMbwResult auto_mbw_weights(const DemoModels& models, ToyClassifier& classifier, const AutoMbwOptions& o);

}  // namespace afa::demo
