// What `afa train` is asked to do: the options, their checks, and what follows from them (aggregator
// architecture, optimiser settings, mixed-precision dtype). One place, read by the trainer and the CLI.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "afa/ensemble/aggregators.h"
#include "afa/train/adamw.h"
#include "afa/train/distributed.h"

namespace afa::train {

struct TrainOptions {
  std::vector<std::string> models;        // N >= 2 checkpoints (diffusers folders or single files)
  std::vector<std::string> config_files;  // --config for single files
  std::string data;                       // JSON-lines data file
  std::string output;                     // checkpoint folder (default: the --resume folder)
  std::string resume;                     // checkpoint folder to continue from
  bool force = false;                     // resume even with other models than the checkpoint's (--force)

  // Aggregators (ignored on resume: the checkpoint's are used).
  std::string method = "afa";             // afa | scalar | no-time | no-text | last-block-only
  int64_t hidden_size = 128, num_layers = 1, num_heads = 8;

  int64_t epochs = 1, max_steps = 0;      // max_steps > 0 overrides epochs
  int64_t batch_size = 1, grad_accum = 1; // per process
  int64_t resolution = 512;
  bool center_crop = false, random_flip = false;
  double lr = 1e-4, weight_decay = 0.01, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t warmup_steps = 100;
  std::string lr_scheduler = "constant";  // constant | cosine | linear (diffusers' names), after the warm-up
  double max_grad_norm = 0;               // 0: no clipping
  double drop_text = 0.1;                 // probability of training a sample on the empty caption
  uint64_t seed = 0;
  int64_t save_every = 500;               // 0: only at the end
  double val_fraction = 0;                // held-out share of the data
  int64_t val_every = 100;                // validation every K steps (and at the end)
  bool cache_latents = false;             // encode the images once into OUTPUT/latent_cache
  std::string device = "cpu";
  // Memory: "bf16" or "fp16" keep the frozen models in that dtype and run the forward under autocast
  // (aggregators and the optimizer stay float32; fp16 scales the loss); "no" is float32 throughout.
  std::string mixed_precision = "no";
  bool gradient_checkpointing = false;    // recompute U-Net stages and aggregators in the backward
  int threads = 0;                        // CPU threads (0: all cores or $AFA_THREADS)
  bool progress = true;                   // progress bar when stderr is a terminal
  DistributedOptions distributed;

  // Full fine-tuning of one model's U-Net (exactly one -m) instead of aggregators; the checkpoint's
  // model.safetensors is then the whole model as an LDM single file (it loads with the source's --config).
  bool train_unet = false;

  // Test hook: called on every rank after each optimizer step (and its checkpoint) with the step count.
  std::function<void(int64_t step)> on_step;
};

// Throws afa::Error for the first option that is out of range or does not fit the others.
void check_options(const TrainOptions& o);

// The aggregator architecture of --method / --hidden-size / --heads / --layers (new runs).
ensemble::AggregatorOptions aggregator_options(const TrainOptions& o);

// AdamW with --lr, --weight-decay and the betas/eps.
AdamWOptions adamw_options(const TrainOptions& o);

// The dtype of the frozen models and of autocast for --mixed-precision no | bf16 | fp16.
torch::ScalarType amp_dtype(const std::string& mixed_precision);

}  // namespace afa::train
