// Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler): the loss is multiplied by a
// large scale before backward so that small gradients survive float16, the gradients are divided by it
// before the optimizer step, and a step whose gradients overflowed is skipped while the scale halves.
// After `growth_interval` clean steps in a row the scale doubles again.
#pragma once

#include <torch/types.h>

#include <vector>

namespace afa::train {

class GradScaler {
 public:
  explicit GradScaler(bool enabled, double init_scale = 65536.0, int64_t growth_interval = 2000)
      : enabled_(enabled), scale_(init_scale), growth_interval_(growth_interval) {}

  bool enabled() const { return enabled_; }
  double scale() const { return enabled_ ? scale_ : 1.0; }
  // The loss to call backward on.
  torch::Tensor scale_loss(const torch::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }
  // Divides the gradients by the scale in place; returns false when one is inf or NaN (then skip the
  // optimizer step). Call update() after each step either way.
  bool unscale(const std::vector<torch::Tensor>& grads) const;
  void update(bool finite);

  // For checkpoints: the scale and the count of clean steps since it last changed.
  int64_t clean_steps() const { return clean_steps_; }
  void restore(double scale, int64_t clean_steps) {
    scale_ = scale;
    clean_steps_ = clean_steps;
  }

 private:
  bool enabled_;
  double scale_;
  int64_t growth_interval_;
  int64_t clean_steps_ = 0;
};

}  // namespace afa::train
