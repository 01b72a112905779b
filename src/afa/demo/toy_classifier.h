// The toy world's prompt-fidelity classifier: a small CNN that reads, from an image, what is in each of
// the 9 grid cells (nothing or a shape; the object's colour and size) and the background's kind and
// colour, so that "does this image show its caption" is a comparison of records. The 16x16 convolutional
// map is max-pooled over each grid cell and one head, shared by the cells, reads each; the background
// heads read the whole map's mean. Their hidden layers (the penultimate features) serve the toy FID. Saved as
// one .safetensors file with its config in the metadata.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "afa/demo/toy_world.h"

namespace afa::demo {

struct ToyClassifierConfig {
  int64_t image_size = 64;  // inputs of another size are resized to this
  int64_t width = 16;       // channels of the first convolution (doubling twice)
  int64_t hidden = 32;      // per-cell and background hidden widths
  int64_t feature_dim() const { return (kGrid * kGrid + 1) * hidden; }
  nlohmann::json to_json() const;
  static ToyClassifierConfig from_json(const nlohmann::json& j);
};

// Logits of one batch; each head's classes are the world's names (shape 0 is "nothing here").
struct ToyLogits {
  torch::Tensor features;           // [B, feature_dim]: the 9 cells' and the background's hidden layers
  torch::Tensor shape;              // [B, 9, 1 + shapes]
  torch::Tensor colour;             // [B, 9, colours]
  torch::Tensor size;               // [B, 9, sizes]
  torch::Tensor background;         // [B, backgrounds]
  torch::Tensor background_colour;  // [B, background colours]
};

class ToyClassifierImpl : public torch::nn::Module {
 public:
  explicit ToyClassifierImpl(const ToyClassifierConfig& config);
  // x: float [B, 3, S, S] in [-1, 1] with S = config.image_size (see prepare_images).
  ToyLogits forward(const torch::Tensor& x);
  const ToyClassifierConfig& config() const { return config_; }

 private:
  ToyClassifierConfig config_;
  torch::nn::Sequential trunk_{nullptr};
  torch::nn::Conv2d cell_hidden_{nullptr}, cell_heads_{nullptr};  // 1x1: shared by the 9 cells
  torch::nn::Linear background_hidden_{nullptr}, background_heads_{nullptr};
};
TORCH_MODULE(ToyClassifier);

// uint8 [B, H, W, 3] (or one [H, W, 3]) -> float [B, 3, S, S] in [-1, 1]; area-averaged when H is a
// multiple of S, bilinear otherwise.
torch::Tensor prepare_images(const torch::Tensor& hwc_u8, int64_t size);

// What the classifier read from one image.
struct ToyReading {
  int shape[kGrid * kGrid];   // -1: nothing in the cell, else the shape index
  int colour[kGrid * kGrid];  // meaningful where shape >= 0
  int size[kGrid * kGrid];
  int background = 0, background_colour = 0;
};
std::vector<ToyReading> read_logits(const ToyLogits& logits);
// The reading a perfect classifier would give for a scene.
ToyReading reading_of(const ToyScene& scene);

// Training targets of scenes: shape [B, 9] (0 = nothing), colour and size [B, 9] (-100 where empty,
// ignored), background and background_colour [B].
struct ToyTargets {
  torch::Tensor shape, colour, size, background, background_colour;
};
ToyTargets targets_of(const std::vector<ToyScene>& scenes);
// The summed cross-entropies of the five heads, plus the shape head's among shapes on occupied cells.
torch::Tensor classifier_loss(const ToyLogits& logits, const ToyTargets& targets);

void save_classifier(const std::string& path, ToyClassifier& model,
                     const std::map<std::string, std::string>& extra_metadata = {});
// Throws afa::Error naming the file when it is not a toy classifier.
ToyClassifier load_classifier(const std::string& path);

}  // namespace afa::demo
