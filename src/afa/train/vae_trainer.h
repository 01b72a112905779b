// `afa train --vae`: trains the AutoencoderKL of a model on images, as the first stage of a model trained
// from scratch (the demo world). Loss = L1 (or MSE) reconstruction of the decoded posterior sample + kl_weight ·
// KL(q(z|x) || N(0, I)) (summed over latent elements, averaged over the batch, as LDM's autoencoder
// without its perceptual and adversarial terms, which simple toy images do not need). AdamW.
//
// At the end the latent scale is measured as SD's was: scaling_factor = 1 / std of posterior samples of
// training images, so the diffusion model sees unit-variance latents. The output is the whole model as a
// diffusers folder (the source's other components unchanged), with the trained VAE and its loss log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace afa::train {

struct VaeTrainOptions {
  std::string model;           // diffusers folder (or single file) whose VAE starts the training
  std::vector<std::string> config_files;
  std::string data;            // JSON-lines data (`image` paths; captions are not used)
  std::string output;          // the new diffusers folder
  int64_t steps = 2000, batch_size = 16, resolution = 64;
  // Train on random crop_size x crop_size crops of the resolution x resolution images (0: whole images).
  // The VAE is convolutional but for its mid-block attention, so crops teach it the same local code at a
  // fraction of the cost (SD's VAE was trained on 256-pixel crops); the held-out L1 is on whole images.
  int64_t crop_size = 0;
  double lr = 2e-4, kl_weight = 1e-6;
  // The reconstruction term: "l1" (LDM's) or "mse". Squared error weighs a few badly wrong pixels (a small
  // object drawn in the wrong colour, or lost) over many slightly wrong ones (a texture's grain), which
  // L1 weighs alike. The logged and reported figure is L1 either way.
  std::string reconstruction_loss = "l1";
  int64_t warmup_steps = 100;  // linear warm-up of the learning rate
  std::string lr_scheduler = "constant";  // after the warm-up: constant | cosine | linear (as the U-Net's)
  std::string mixed_precision = "no";     // "bf16": the forward under autocast (weights and AdamW in float32)
  uint64_t seed = 0;
  int64_t log_every = 50;      // loss lines in OUTPUT/logs/vae_train_log.jsonl (and on stderr without a bar)
  int threads = 0;
  bool progress = true;
};

struct VaeTrainResult {
  double first_loss = 0, last_loss = 0;   // L1 reconstruction, mean of the first / last `log_every` steps
  double last_kl = 0;
  double scaling_factor = 0;
  double heldout_l1 = -1;                 // on the images not trained on (the last 1/16 of the data), -1: none
};

VaeTrainResult train_vae(const VaeTrainOptions& options);

}  // namespace afa::train
