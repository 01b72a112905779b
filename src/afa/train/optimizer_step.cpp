#include "afa/train/optimizer_step.h"

#include <torch/torch.h>

namespace afa::train {

StepOutcome optimizer_step(const std::vector<torch::Tensor>& params, AdamW& opt, GradScaler& scaler,
                           Distributed& dist, double total_count, double lr, double max_grad_norm) {
  StepOutcome out;
  if (total_count <= 0) return out;
  std::vector<torch::Tensor> grads;
  for (auto p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  dist.all_reduce_sum(grads);
  {
    torch::NoGradGuard ng;
    for (auto& g : grads) g.div_(total_count);
  }
  // Every rank sees the same all-reduced gradients, so all skip an overflowed step together.
  const bool finite = scaler.unscale(grads);
  scaler.update(finite);
  out.overflowed = !finite;
  if (finite) {
    out.grad_norm = clip_grad_norm(params, max_grad_norm);
    opt.step(lr);
    out.applied = true;
  }
  return out;
}

}  // namespace afa::train
