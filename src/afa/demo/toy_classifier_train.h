// Training the toy classifier on true toy images (afa toyscore --train), and its validation: accuracy on
// the held-out true images, and on the same images with shuffled captions (where it must fail).
#pragma once

#include <cstdint>
#include <string>

#include "afa/demo/toy_classifier.h"
#include "afa/demo/toy_score.h"

namespace afa::demo {

struct ToyClassifierTrainOptions {
  std::string data;          // a toydata folder (train.jsonl, heldout.jsonl) or a JSON-lines file
  std::string validation;    // JSON-lines to validate on; empty: DATA/heldout.jsonl when DATA is a folder
  std::string output;        // .safetensors; empty: not saved
  int64_t epochs = 12;
  int64_t batch_size = 64;
  int64_t limit = 0;         // use only the first N training images (0: all)
  double lr = 2e-3, weight_decay = 1e-4;
  uint64_t seed = 0;
  ToyClassifierConfig config;  // image_size is taken from the data
  bool augment = true;       // random blur and noise, so that soft generated images still read
  bool progress = true;
};

struct ValidationResult {
  int64_t images = 0;
  FidelityTally true_pairs, shuffled_pairs;
  FidelityTally chance;  // the shuffled captions scored against the true scenes: what guessing scores
  nlohmann::json to_json() const;
};

struct ToyClassifierTrainResult {
  ToyClassifier model{nullptr};
  double final_loss = 0;
  int64_t train_images = 0;
  ValidationResult validation;  // images == 0 when there was nothing to validate on
};

ToyClassifierTrainResult train_classifier(const ToyClassifierTrainOptions& o);

// Scores `items` with their own and with shuffled captions.
ValidationResult validate_classifier(ToyClassifier& model, const std::vector<CaptionedImage>& items,
                                     uint64_t seed = 0);

}  // namespace afa::demo
