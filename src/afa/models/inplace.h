// In-place variants for tensors a layer has just created itself. At inference (no grad mode) they save an
// allocation per op, which matters on CPU at 512x512; under autograd they fall back to the out-of-place op
// (in-place SiLU would overwrite what its backward needs). Results are bitwise the same either way.
#pragma once

#include <torch/torch.h>

namespace afa::models::detail {

inline bool can_reuse() { return !torch::GradMode::is_enabled(); }

// SiLU of a temporary.
inline torch::Tensor silu_tmp(torch::Tensor x) { return can_reuse() ? torch::silu_(x) : torch::silu(x); }

// True when `other` broadcasts into `tmp`'s shape without growing it.
inline bool broadcasts_into(const torch::Tensor& tmp, const torch::Tensor& other) {
  if (other.dim() > tmp.dim()) return false;
  for (int64_t i = 1; i <= other.dim(); ++i) {
    const int64_t o = other.size(-i);
    if (o != 1 && o != tmp.size(-i)) return false;
  }
  return true;
}

// tmp + other, where tmp is a temporary that already has the result's shape and dtype.
inline torch::Tensor add_tmp(torch::Tensor tmp, const torch::Tensor& other) {
  if (can_reuse() && tmp.scalar_type() == other.scalar_type() && broadcasts_into(tmp, other))
    return tmp.add_(other);
  return tmp + other;
}

}  // namespace afa::models::detail
