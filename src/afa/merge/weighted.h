// The element-wise merges, on float32 tensors of one shape (callers upcast F16/BF16 inputs first).
#pragma once

#include <torch/types.h>

#include <vector>

namespace afa::merge {

// Σ wᵢ·xᵢ. Terms with weight 0 are skipped and a single weight-1 term is returned as is, so alpha 0 or 1
// reproduces a model bit-exactly. Two models with supermerger's alpha a: weights {1 − a, a}.
torch::Tensor weighted_sum(const std::vector<torch::Tensor>& xs, const std::vector<double>& weights);

// A + α·(B − C) (supermerger's "Add difference").
torch::Tensor add_difference(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c, double alpha);

}  // namespace afa::merge
