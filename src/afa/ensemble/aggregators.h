// The set of SABW aggregators of one ensemble, and their checkpoints.
//
// Two formats, both loaded by `load_aggregators`:
//  * the official layout (Tenvence/afa `Model.save_pretrained`): a folder with model_config.json
//    {"num_models", "num_aggregators"} and aggregator_{i}/{aggregator.safetensors, config.json};
//  * one .safetensors file of ours: tensors "aggregator_{i}.<param>", metadata "afa_format" = "aggregators",
//    "model_config" (JSON) and "aggregator_configs" (JSON list of each aggregator's config).
// afa's own extra keys: model_config "stages" (the U-Net stage of each aggregator; absent = one per
// stage, 0..K-1, as the official code) and the SABW ablation keys (see sabw.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "afa/ensemble/sabw.h"
#include "afa/models/unet_2d_condition.h"

namespace afa::ensemble {

struct AggregatorSet {
  int64_t num_models = 0;
  std::vector<int64_t> stages;     // U-Net stage of aggregators[i]
  std::vector<SABW> aggregators;

  // Every parameter, for an optimiser.
  std::vector<torch::Tensor> parameters() const;
  // Every parameter by its name in our single-file format and in optimiser states: "aggregator_{i}.<param>".
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  // Every tensor (parameters and buffers) by the same names.
  std::vector<std::pair<std::string, torch::Tensor>> named_tensors() const;
  static std::string key(size_t i, const std::string& param) { return "aggregator_" + std::to_string(i) + "." + param; }
  void to(torch::Device device, torch::ScalarType dtype);
  void train(bool on);
};

// What a new set looks like (paper defaults: hidden 128, 1 transformer layer, 8 heads).
struct AggregatorOptions {
  int64_t hidden_size = 128, num_layers = 1, num_attn_heads = 8;
  bool spatial = true, use_timestep = true, use_text = true;
  bool last_block_only = false;   // one aggregator, at the last stage
  uint64_t seed = 0;              // initialisation
};

// New aggregators for U-Nets with these stages; conv_out is zero (the ensemble starts as block-average).
AggregatorSet create_aggregators(const std::vector<models::StageInfo>& stages, int64_t num_models,
                                 int64_t cross_attn_dim, int64_t temb_channels, const AggregatorOptions& o);

// Loads either format (a folder or a .safetensors file). Throws afa::Error naming the file on problems.
AggregatorSet load_aggregators(const std::string& path);

// Saves atomically: a path ending in .safetensors gets our single file (tensors in `file_dtype`: F16 halves
// a shipped set, and loading casts back), anything else the official folder layout (float32, written
// beside it, then renamed into place).
void save_aggregators(const AggregatorSet& set, const std::string& path,
                      torch::ScalarType file_dtype = torch::kFloat32);

// Checks that the set fits these U-Nets (number of models, stages, channels); throws afa::Error.
void check_fits(const AggregatorSet& set, const std::vector<models::StageInfo>& stages, int64_t num_models,
                const std::string& source);

}  // namespace afa::ensemble
