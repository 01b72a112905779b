// Prompt fidelity in the toy world: what the caption asks for against what the classifier read.
// Per object of the caption: position (its cell holds an object), shape, colour and size (of what is
// in that cell); per image: background kind, background colour, objects (the occupied cells are
// exactly the caption's) and all (everything right). Accuracies are over objects (object attributes)
// or images (the rest).
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "afa/demo/toy_classifier.h"
#include "afa/demo/toy_world.h"

namespace afa::demo {

struct FidelityTally {
  int64_t images = 0, objects = 0;
  int64_t position = 0, shape = 0, colour = 0, size = 0;     // correct objects
  int64_t background = 0, background_colour = 0, object_set = 0, all = 0;  // correct images
  // Scores one pair and returns its per-image record ({"shape": [true, false], ..., "all": true}).
  nlohmann::json add(const ToyScene& expected, const ToyReading& read);
  // {"position": 0.97, "shape": ..., "colour", "size", "background", "background_colour", "objects", "all"}
  nlohmann::json accuracy() const;
  // The smallest of the per-attribute accuracies (position, shape, colour, size, background, background colour).
  double worst_attribute() const;
};

// A captioned image to score.
struct CaptionedImage {
  std::string image, text;
};
// A JSON-lines file (afa train's format, paths relative to the file) or a folder of PNGs whose caption
// is the first line of their "parameters" text chunk (as afa generate and afa toydata write it), in
// name order. Throws afa::Error naming the source when it is empty or an image has no caption.
std::vector<CaptionedImage> load_captioned_images(const std::string& path);
// Reads the images into one uint8 [N, H, W, 3] tensor (all must have one size); throws naming the file.
torch::Tensor read_images(const std::vector<CaptionedImage>& items);
// Parses every caption; throws naming the image whose caption is not in the toy grammar.
std::vector<ToyScene> parse_captions(const std::vector<CaptionedImage>& items);

// The classifier's readings and penultimate features of uint8 [N, H, W, 3] images, in batches.
struct ClassifierOutput {
  std::vector<ToyReading> readings;
  torch::Tensor features;  // float32 [N, features]
};
ClassifierOutput run_classifier(ToyClassifier& model, const torch::Tensor& images_u8, int64_t batch_size = 64);

// A pairing of N captions with N images in which no image keeps its own caption (N >= 2): caption
// index for each image, from a seeded shuffle followed by a rotation.
std::vector<size_t> shuffled_pairing(size_t n, uint64_t seed);

}  // namespace afa::demo
