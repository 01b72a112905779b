#include "afa/merge/weighted.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::merge {

torch::Tensor weighted_sum(const std::vector<torch::Tensor>& xs, const std::vector<double>& weights) {
  AFA_CHECK(!xs.empty() && xs.size() == weights.size(), "weighted_sum: ", xs.size(), " tensors but ",
            weights.size(), " weights");
  torch::Tensor out;
  size_t nonzero = 0;
  for (size_t i = 0; i < xs.size(); ++i) nonzero += weights[i] != 0.0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (weights[i] == 0.0) continue;
    if (nonzero == 1 && weights[i] == 1.0) return xs[i];
    torch::Tensor term = xs[i] * weights[i];
    out = out.defined() ? out.add_(term) : term;
  }
  return out.defined() ? out : torch::zeros_like(xs[0]);
}

torch::Tensor add_difference(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c, double alpha) {
  if (alpha == 0.0) return a;
  return a + (b - c) * alpha;
}

}  // namespace afa::merge
