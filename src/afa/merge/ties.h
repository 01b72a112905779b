// TIES-merging (Yadav et al. 2023, "Resolving Interference When Merging Models") with an optional DARE
// drop (Yu et al. 2023, "Language Models are Super Mario"), on float32 tensors of one shape.
// With base θ₀ and models θ₁..θₙ, task vectors τᵢ = θᵢ − θ₀:
//   trim      τ̂ᵢ = τᵢ where |τᵢ| is among its round(density·numel) largest magnitudes (ties at the
//             threshold kept), else 0;  with DARE instead: each entry kept with probability density and
//             rescaled by 1/density (a seeded draw);
//   elect     γ = sign(Σᵢ τ̂ᵢ);
//   disjoint  τ = mean of the τ̂ᵢ whose sign equals γ (0 where none does);
//   result    θ₀ + λ·τ.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace afa::merge {

torch::Tensor trim_top_magnitude(const torch::Tensor& tau, double density);
// The trim split in two, so that a large tensor's threshold can be found once and applied slab by slab.
struct TrimThreshold {
  enum Kind { kKeepAll, kKeepNone, kKeepAtLeast } kind = kKeepAll;
  torch::Tensor value;  // kKeepAtLeast: the smallest magnitude kept (0-d, float32)
};
// Reorders `magnitudes` (a selection in place, so that a 38 M-value tensor needs no second copy).
TrimThreshold magnitude_threshold(torch::Tensor magnitudes, double density);
torch::Tensor apply_threshold(const torch::Tensor& tau, const TrimThreshold& t);
// DARE's drop and rescale with a generator seeded by `seed` alone (the same seed, the same mask).
torch::Tensor dare_drop(const torch::Tensor& tau, double density, uint64_t seed);
torch::Tensor elect_sign(const std::vector<torch::Tensor>& taus);
torch::Tensor disjoint_mean(const std::vector<torch::Tensor>& taus, const torch::Tensor& sign);

struct TiesOptions {
  double density = 1.0;  // fraction kept, (0, 1]
  double lambda = 1.0;   // scale of the merged task vector
  bool dare = false;     // random drop instead of the magnitude trim
  uint64_t seed = 0;     // DARE: mixed with the key name and model index, so each tensor has its own draw
};
// base: θ₀; models: θ₁..θₙ. `key` names the tensor for DARE's seed.
torch::Tensor ties_merge(const torch::Tensor& base, const std::vector<torch::Tensor>& models, const TiesOptions& o,
                         const std::string& key = "");
// The same without DARE, with each model's trim threshold given (found on the whole tensor), on any
// slab of rows: the result is the slab of the whole-tensor merge.
torch::Tensor ties_merge_thresholded(const torch::Tensor& base, const std::vector<torch::Tensor>& models,
                                     const std::vector<TrimThreshold>& thresholds, double lambda);

// The seed DARE uses for model i's tensor `key` (FNV-1a of the key mixed with seed and i).
uint64_t dare_seed(uint64_t seed, const std::string& key, size_t model);

}  // namespace afa::merge
