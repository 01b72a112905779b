// Merge Block Weighted (MBW): one alpha per block instead of one for the whole model.
// Given as supermerger writes it: 25 comma-separated values IN00..IN11, M00, OUT00..OUT11 (BASE from
// the base alpha), or 26 with BASE first. Presets name common shapes of the 25 values.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "afa/merge/block_map.h"

namespace afa::merge {

struct BlockWeights {
  std::array<double, kNumBlocks> alpha{};  // index as kBlockIds: 0 = BASE
  std::string to_string() const;           // the 26 values, BASE first, as supermerger writes them
};

// 25 values plus `base_alpha` (required then), or 26 values with BASE first (then `base_alpha` must be
// empty). Throws afa::Error naming the option on a bad count or a non-number.
BlockWeights parse_block_weights(const std::string& values, std::optional<double> base_alpha);
// 25 or 26 numbers from "a,b,c" (spaces allowed); `option` names the option in messages.
std::vector<double> parse_numbers(const std::string& values, const std::string& option);

// The 25 U-Net values of a named preset, or nullopt. Formulas over the block position p = 0..24:
//   ALL_A 0, ALL_B 1, FLAT_25 0.25, FLAT_75 0.75,
//   GRAD_V  1 at IN00 falling linearly to 0 at M00 and rising back to 1 at OUT11 (|p − 12| / 12),
//   GRAD_A  1 − GRAD_V,
//   IN_ONLY 1 on IN00..IN11, OUT_ONLY 1 on OUT00..OUT11, MID_ONLY 1 on M00 (0 elsewhere),
//   SMOOTHSTEP  s(p / 24) with s(x) = 3x² − 2x³,  REVERSE_SMOOTHSTEP 1 − SMOOTHSTEP,
//   COSINE  (1 − cos(π·p / 24)) / 2,  REVERSE_COSINE 1 − COSINE.
std::optional<std::array<double, 25>> block_preset(const std::string& name);
std::vector<std::string> block_preset_names();

}  // namespace afa::merge
