// Attention maps as pictures (paper Fig. 6): for chosen steps and aggregation points, a heat map of each
// model's weight per position, and one grid per step (rows: aggregation points, columns: models), so a
// user sees which model leads where.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "afa/pipeline/text_to_image.h"

namespace afa::ensemble {

// A weight map [h, w] in [0, 1] -> an RGB uint8 image [size_h, size_w, 3] (nearest upsampling, a
// perceptual blue-to-yellow colour scale).
torch::Tensor heat_map(const torch::Tensor& map, int64_t size_h, int64_t size_w);

// Writes DIR/step{SS}_block{KK}_model{M}.png for every map and DIR/step{SS}_grid.png.
// maps[i]: [N, h, w] for stage stages[i] (one batch row already chosen).
void write_attention_maps(const std::string& dir, int64_t step, const std::vector<int64_t>& stages,
                          const std::vector<torch::Tensor>& maps, int64_t cell = 128);

// Which maps a sampling run should draw: aggregation points (empty: all), steps (negative: from the end;
// empty: the first and the last) and the batch row (under CFG the first conditional row is `batch`).
struct AttentionMapRequest {
  std::string dir;
  std::vector<int64_t> blocks, steps;
  int64_t row = 0;
};

// A step callback for pipeline::generate that writes the requested maps of `denoiser` (which must record
// them: Denoiser::record_attention_maps) after each wanted step.
pipeline::StepCallback attention_map_writer(const pipeline::Denoiser& denoiser, AttentionMapRequest request);

}  // namespace afa::ensemble
