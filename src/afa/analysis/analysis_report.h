// What `afa analyze` writes: DIR/analysis.json (schema in the README) and the figures —
//   winners_t{T}.png   the image with each patch tinted by the contender that won it most often at T
//   winners_t{T}.svg   the same with its legend
//   patch_bars.svg     per chosen patch, stacked win proportions per timestep (the paper's Fig. 1 bars)
//   win_fraction.svg   whole-image win fraction against timestep, one line per contender
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "afa/analysis/region_wins.h"

namespace afa::analysis {

// Fixed colours of contenders 0..7 (RGB) and of ties (grey).
std::array<uint8_t, 3> contender_colour(size_t k, size_t contenders);

nlohmann::json analysis_json(const RegionWins& r, const nlohmann::json& inputs);

// The image uint8 [H, W, 3] tinted per patch by its most frequent winner at timestep index `ti`.
torch::Tensor winner_overlay(const RegionWins& r, size_t ti, const torch::Tensor& image_hwc);

// Writes analysis.json and every figure into `dir` (which must exist). `bars`: patches (row, col) to draw.
void write_analysis(const RegionWins& r, const nlohmann::json& inputs, const torch::Tensor& image_hwc,
                    const std::vector<std::pair<int64_t, int64_t>>& bars, const std::string& dir);

}  // namespace afa::analysis
