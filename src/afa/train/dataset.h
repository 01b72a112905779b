// The training data: a JSON-lines file, one object per image-caption pair, and the image transform of
// the SD training scripts (resize the shorter side, crop to a square, scale to [-1, 1]).
//
//   {"image": "imgs/0001.png", "text": "a cat on a mat"}
//   {"image_file": "000/abc.jpg", "prompt": "..."}          (JourneyDB's keys)
//   {"file_name": "b.png", "text": "..."}                    (Hugging Face imagefolder metadata.jsonl)
//
// Relative image paths are relative to the JSON-lines file's folder. Images are not opened here: an
// unreadable one is found (and skipped) when it is first loaded.
#pragma once

#include <torch/types.h>

#include <optional>
#include <string>
#include <vector>

namespace afa::train {

struct Sample {
  std::string image;  // resolved path
  std::string text;
  int64_t line = 0;   // 1-based line in the data file, for messages
};

struct Dataset {
  std::string path;             // the JSON-lines file
  std::vector<Sample> samples;
};

// Parses the file. Throws afa::Error naming the file and line for bad JSON, a non-object line, a missing
// or non-string image path or caption; blank lines are skipped; an empty data set is an error.
Dataset load_dataset(const std::string& jsonl_path);

// Deterministic train/validation split of sample indices: a seeded shuffle, the last
// round(fraction * N) indices (at least 1 when fraction > 0) held out. Both lists are sorted.
struct Split {
  std::vector<int64_t> train, val;
};
Split split_dataset(int64_t num_samples, double val_fraction, uint64_t seed);

// How an image becomes a training input.
struct ImageTransform {
  int64_t resolution = 512;
  bool center_crop = false;  // else a random crop (torchvision RandomCrop)
  bool random_flip = false;  // horizontal flip with probability 1/2
};

// Resizes a uint8 [H, W, 3] image so that its shorter side is `resolution`, as torchvision's
// Resize(resolution) on a uint8 tensor with antialias off (bilinear, align_corners=False, the long side
// int(resolution * long / short), rounded back to uint8). Returns uint8 [3, H', W'].
torch::Tensor resize_shorter_side(const torch::Tensor& hwc_u8, int64_t resolution);

// The whole transform: resize, crop (offsets drawn from `gen`, as RandomCrop's randint), optional flip,
// then ToTensor + Normalize(0.5, 0.5): float32 [3, R, R] in [-1, 1].
torch::Tensor transform_image(const torch::Tensor& hwc_u8, const ImageTransform& t, at::Generator& gen);

// Reads and transforms one sample's image; nullopt (after printing one warning line naming the file and
// the reason to stderr, if `warn`) when it cannot be read or decoded.
std::optional<torch::Tensor> load_training_image(const Sample& s, const ImageTransform& t, at::Generator& gen,
                                                 bool warn = true);

}  // namespace afa::train
