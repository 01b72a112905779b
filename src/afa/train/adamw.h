// AdamW as torch 1.13's torch.optim.AdamW computes it (the single-tensor path, amsgrad off), with its
// state exposed as named tensors so that a checkpoint can hold it in a safetensors file:
//   p *= 1 - lr * wd                                   (decoupled weight decay, first)
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// Parameters without a gradient are left alone (no decay, no step count), as torch does.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace afa::train {

struct AdamWOptions {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, torch::Tensor>> named_params, AdamWOptions options);

  // One update with learning rate `lr` (the schedule's value for this step).
  void step(double lr);
  // Drops every gradient (set_to_none), so the next backward starts fresh.
  void zero_grad();

  const AdamWOptions& options() const { return options_; }
  const std::vector<std::pair<std::string, torch::Tensor>>& params() const { return params_; }

  // "<param>.exp_avg", "<param>.exp_avg_sq" (float32) and "<param>.step" (0-d I64) for every parameter that
  // has taken a step.
  std::map<std::string, torch::Tensor> state_dict() const;
  // Restores a state_dict(); throws afa::Error naming `source` for unknown parameters or wrong shapes.
  void load_state_dict(const std::map<std::string, torch::Tensor>& state, const std::string& source);

 private:
  struct State {
    torch::Tensor exp_avg, exp_avg_sq;
    int64_t step = 0;
  };
  std::vector<std::pair<std::string, torch::Tensor>> params_;
  std::vector<State> state_;
  AdamWOptions options_;
};

// diffusers' constant schedule with linear warm-up, for 0-based optimizer step `step`:
// lr * step / warmup while step < warmup, then lr (so warm-up 0 gives lr from the first step).
double warmup_lr(double lr, int64_t step, int64_t warmup_steps);

// diffusers' get_scheduler for 0-based step `step` of `total_steps`, after the same linear warm-up:
// "constant" (= warmup_lr), "cosine" (half a cosine from lr to 0 over the steps after the warm-up) or
// "linear" (straight down to 0 at total_steps). Throws afa::Error for another name.
double scheduled_lr(const std::string& scheduler, double lr, int64_t step, int64_t warmup_steps, int64_t total_steps);
const std::vector<std::string>& lr_scheduler_names();

// Scales the gradients so that their global L2 norm is at most max_norm (torch clip_grad_norm_).
// Returns the norm before clipping. Undefined gradients are skipped.
double clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm);

}  // namespace afa::train
