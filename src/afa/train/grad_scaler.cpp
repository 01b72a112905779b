#include "afa/train/grad_scaler.h"

namespace afa::train {

bool GradScaler::unscale(const std::vector<torch::Tensor>& grads) const {
  if (!enabled_) return true;
  torch::NoGradGuard ng;
  bool finite = true;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    g.div_(scale_);
    finite = finite && torch::isfinite(g).all().item<bool>();
  }
  return finite;
}

void GradScaler::update(bool finite) {
  if (!enabled_) return;
  if (!finite) {
    scale_ *= 0.5;
    clean_steps_ = 0;
  } else if (++clean_steps_ >= growth_interval_) {
    scale_ *= 2.0;
    clean_steps_ = 0;
  }
}

}  // namespace afa::train
