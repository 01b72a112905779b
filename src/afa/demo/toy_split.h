// Which scenes are held out, and which experts' subsets a scene belongs to.
//
// Held out: a scene is held out when a hash of its caption says so (about 1 in 10). The rule depends on
// the caption string alone, so a held-out caption (and therefore its image) can never appear in any
// training set, whatever the seed or count of the run that drew it.
//
// Expert subsets (they may overlap; a scene can be in none):
//   round  every object is a circle or a ring
//   warm   every object is red, orange or yellow, on a striped or noisy (textured) background
//   pair   two objects
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "afa/demo/toy_world.h"

namespace afa::demo {

// 64-bit FNV-1a of the bytes, finished with splitmix64's mixer (so every bit depends on every byte).
uint64_t caption_hash(const std::string& caption);

constexpr uint64_t kHeldOutModulus = 10;
// caption_hash(caption) % kHeldOutModulus == 0.
bool is_held_out(const std::string& caption);

const std::vector<std::string>& subset_names();  // round warm pair
std::vector<std::string> subsets(const ToyScene& scene);

}  // namespace afa::demo
