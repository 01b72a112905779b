// The optimizer step of one training step across ranks: the same update on every rank, equal to one
// process training on the whole global batch.
#pragma once

#include <torch/types.h>

#include <vector>

#include "afa/train/adamw.h"
#include "afa/train/distributed.h"
#include "afa/train/grad_scaler.h"

namespace afa::train {

struct StepOutcome {
  double grad_norm = 0;     // before clipping
  bool applied = false;     // false: no readable sample, or fp16 gradients overflowed
  bool overflowed = false;
};

// `params`' gradients hold this rank's gradient of its summed per-sample losses (none: zero). Sums them
// over the ranks, divides by the step's sample count `total_count` (all ranks), unscales them (fp16: an
// overflow skips the step on every rank alike), clips them to `max_grad_norm` (0: off) and steps AdamW at
// `lr`. No update when total_count is 0.
StepOutcome optimizer_step(const std::vector<torch::Tensor>& params, AdamW& opt, GradScaler& scaler,
                           Distributed& dist, double total_count, double lr, double max_grad_norm);

}  // namespace afa::train
