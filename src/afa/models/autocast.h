// Automatic mixed precision (torch.autocast) for libtorch 1.13 and 2.x, whose C++ calls differ.
#pragma once

#include <torch/torch.h>

namespace afa::models {

// The thread's autocast settings for CPU and CUDA. Thread-local in torch: the autograd engine runs a
// backward pass on its own threads, so whoever recomputes a forward there must restore them.
struct AutocastState {
  bool cpu = false, cuda = false;
  at::ScalarType cpu_dtype = at::kBFloat16, cuda_dtype = at::kHalf;
  static AutocastState current();
  void apply() const;  // makes this the thread's state (clears the cast cache when turning off)
};

// Autocast to `dtype` on `device`'s type for a scope, as `with torch.autocast(device, dtype)`.
// dtype Float (or Undefined) leaves autocast off.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, at::ScalarType dtype);
  explicit AutocastGuard(const AutocastState& state);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  AutocastState previous_;
};

}  // namespace afa::models
