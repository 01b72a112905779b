// `afa toydata`: draws a captioned toy data set into a folder, in `afa train`'s JSON-lines format.
//
//   DIR/train/000000.png ...      training images (the caption also in the PNG's "parameters" chunk)
//   DIR/heldout/000000.png ...    held-out images (is_held_out(caption))
//   DIR/train.jsonl               {"image": "train/000000.png", "text": caption, "objects": [...],
//   DIR/heldout.jsonl              "background": ..., "background_colour": ..., "subsets": [...],
//                                  "scene": index of the scene in the run's stream}
//   DIR/expert_<subset>.jsonl     the training lines of each expert subset (round, warm, pair)
//   DIR/heldout_<subset>.jsonl    the held-out lines of each subset
//   DIR/tokenizer/                the toy CLIP vocabulary (write_toy_tokenizer)
//   DIR/toydata.json              the options, counts and the world's attribute names
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace afa::demo {

struct ToyDataOptions {
  std::string output;
  int64_t count = 1000;         // training images
  int64_t heldout_count = -1;   // held-out images; < 0: count / 10 (at least 1)
  uint64_t seed = 0;
  int size = 64;
  std::string tokenizer_dir;    // empty: OUTPUT/tokenizer
  bool progress = true;
};

struct ToyDataSummary {
  int64_t train = 0, heldout = 0, scenes_drawn = 0;
  std::map<std::string, int64_t> train_subsets, heldout_subsets;
  int64_t vocab_size = 0;
};

// Scene k of the stream (scene_seed(seed, k)) goes to the split its caption says, until both splits are
// full; so the first images of a larger run are those of a smaller one with the same seed.
ToyDataSummary write_toy_data(const ToyDataOptions& o);

}  // namespace afa::demo
