#include "afa/train/train_options.h"

#include <algorithm>
#include <cmath>

#include "afa/train/adamw.h"
#include "afa/util/error.h"

namespace afa::train {

ensemble::AggregatorOptions aggregator_options(const TrainOptions& o) {
  ensemble::AggregatorOptions a;
  a.hidden_size = o.hidden_size;
  a.num_layers = o.num_layers;
  a.num_attn_heads = o.num_heads;
  a.seed = o.seed;
  if (o.method == "scalar")
    a.spatial = false;
  else if (o.method == "no-time")
    a.use_timestep = false;
  else if (o.method == "no-text")
    a.use_text = false;
  else if (o.method == "last-block-only")
    a.last_block_only = true;
  else
    AFA_CHECK(o.method == "afa", "--method must be afa, scalar, no-time, no-text or last-block-only (got '",
              o.method, "')");
  return a;
}

AdamWOptions adamw_options(const TrainOptions& o) {
  AdamWOptions a;
  a.lr = o.lr;
  a.weight_decay = o.weight_decay;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  a.eps = o.eps;
  return a;
}

// The dtype of the frozen models and of autocast for --mixed-precision.
torch::ScalarType amp_dtype(const std::string& mp) {
  if (mp == "bf16") return torch::kBFloat16;
  if (mp == "fp16") return torch::kFloat16;
  AFA_CHECK(mp == "no", "--mixed-precision must be no, bf16 or fp16 (got '", mp, "')");
  return torch::kFloat32;
}

void check_options(const TrainOptions& o) {
  amp_dtype(o.mixed_precision);
  if (o.train_unet)
    AFA_CHECK(o.models.size() == 1, "--unet fine-tunes one model: give exactly one -m (got ", o.models.size(), ")");
  else
    AFA_CHECK(o.models.size() >= 2, "training an ensemble needs at least 2 models (-m), got ", o.models.size());
  AFA_CHECK(!o.data.empty(), "give the training data with --data FILE.jsonl");
  AFA_CHECK(!o.output.empty() || !o.resume.empty(), "give the output folder with -o/--output");
  AFA_CHECK(o.batch_size >= 1, "--batch-size must be at least 1 (got ", o.batch_size, ")");
  AFA_CHECK(o.grad_accum >= 1, "--grad-accum must be at least 1 (got ", o.grad_accum, ")");
  AFA_CHECK(o.epochs >= 1 || o.max_steps > 0, "--epochs must be at least 1 (got ", o.epochs, ")");
  AFA_CHECK(o.max_steps >= 0, "--max-steps must be >= 0 (got ", o.max_steps, ")");
  AFA_CHECK(std::isfinite(o.lr) && o.lr >= 0, "--lr must be a finite number >= 0 (got ", o.lr, ")");
  AFA_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0, "--weight-decay must be >= 0 (got ",
            o.weight_decay, ")");
  AFA_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction must be in [0, 1) (got ", o.val_fraction, ")");
  AFA_CHECK(o.resolution >= 8 && o.resolution <= 8192, "--resolution must be in [8, 8192] (got ", o.resolution, ")");
  AFA_CHECK(o.warmup_steps >= 0, "--warmup-steps must be >= 0 (got ", o.warmup_steps, ")");
  const auto& schedulers = lr_scheduler_names();
  AFA_CHECK(std::find(schedulers.begin(), schedulers.end(), o.lr_scheduler) != schedulers.end(),
            "--lr-scheduler must be constant, cosine or linear (got '", o.lr_scheduler, "')");
  AFA_CHECK(o.drop_text >= 0 && o.drop_text <= 1, "--drop-text must be in [0, 1] (got ", o.drop_text, ")");
  AFA_CHECK(std::isfinite(o.max_grad_norm) && o.max_grad_norm >= 0, "--max-grad-norm must be >= 0 (got ", o.max_grad_norm, ")");
  AFA_CHECK(o.save_every >= 0 && o.val_every >= 0, "--save-every and --val-every must be >= 0");
  AFA_CHECK(o.hidden_size >= 1 && o.num_layers >= 1 && o.num_heads >= 1 && o.hidden_size % o.num_heads == 0,
            "--hidden-size must be a positive multiple of --heads and --layers positive (got ", o.hidden_size, ", ",
            o.num_heads, ", ", o.num_layers, ")");
  aggregator_options(o);
}

}  // namespace afa::train
