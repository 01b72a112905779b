// Training the AFA aggregators as the official train.py does: N frozen Stable Diffusion models (U-Nets,
// text encoders, the first model's VAE), trainable SABW aggregators, the denoising MSE on image-caption
// pairs, AdamW. See dataset.h for the data, training_checkpoint.h for the output folder and
// random_streams.h for why resuming and data parallelism reproduce an uninterrupted single-process run.
//
// Each optimizer step takes batch_size x grad_accum x world_size samples of one epoch's shuffled order;
// the gradient is that of the mean loss over the (readable) samples of the step. With train_unet the same
// loop fine-tunes one model's whole U-Net instead.
#pragma once

#include <cstdint>
#include <string>

#include "afa/train/train_options.h"

namespace afa::train {

struct TrainResult {
  int64_t start_step = 0, final_step = 0; // steps done before and after this run
  int64_t samples = 0;                    // samples trained on in this run (all ranks)
  double last_loss = 0;                   // mean loss of the last step
  double initial_val_loss = -1;           // validation loss before the first step (fresh runs); -1: none
  double last_val_loss = -1;              // -1: no validation
  int64_t skipped_images = 0;             // unreadable images met (whole run, resumed ones included)
  bool interrupted = false;               // stopped by SIGINT or SIGTERM (a checkpoint was saved)
  std::string signal;                     // which one: "SIGINT" or "SIGTERM"
  std::string output;
};

// Runs the training; throws afa::Error for bad options, data files or models.
TrainResult train(const TrainOptions& options);

}  // namespace afa::train
