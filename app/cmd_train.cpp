// afa train: trains the AFA aggregators of an ensemble (frozen models, trainable SABW aggregators).
// Exit codes: 0 done, 130 interrupted by Ctrl-C or SIGTERM (after saving a checkpoint), 2 bad input.
#include <iostream>

#include "afa/train/adamw.h"
#include "afa/train/resume_options.h"
#include "afa/train/trainer.h"
#include "afa/train/vae_trainer.h"
#include "afa/util/error.h"
#include "commands.h"

namespace afa::app {

Run add_train(CLI::App& app) {
  auto o = std::make_shared<train::TrainOptions>();
  auto quiet = std::make_shared<bool>(false);
  auto vae = std::make_shared<bool>(false);
  auto kl_weight = std::make_shared<double>(1e-6);
  auto crop_size = std::make_shared<int64_t>(0);
  auto rec_loss = std::make_shared<std::string>("l1");
  app.add_option("-m,--model", o->models,
                 "ensemble member: diffusers folder or single file (2 or more; with --resume: the checkpoint's)");
  app.add_option("--config", o->config_files, "config for single files: LDM yaml and/or JSON (repeatable)");
  app.add_option("--data", o->data,
                 "JSON-lines data: {\"image\": path, \"text\": caption} per line (with --resume: the checkpoint's)");
  app.add_option("-o,--output", o->output, "output folder: an aggregator checkpoint (default: the --resume folder)");
  app.add_option("--resume", o->resume,
                 "continue the training checkpoint in this folder; options not given are the checkpoint's");
  app.add_flag("--force", o->force, "--resume with other models (or another order) than the checkpoint's");
  app.add_flag("--unet", o->train_unet,
               "fine-tune the U-Net of one model (-m) instead; OUTPUT/model.safetensors (single-file source) or "
               "OUTPUT/model/ (diffusers folder source) is the whole model");
  app.add_flag("--vae", *vae,
               "train the VAE of one model (-m; reconstruction + KL) instead; OUTPUT is the model as a diffusers "
               "folder with the trained VAE");
  app.add_option("--kl-weight", *kl_weight, "--vae: weight of the KL term")->capture_default_str();
  app.add_option("--crop-size", *crop_size, "--vae: train on random N x N crops of the --resolution images (0: whole)")
      ->capture_default_str();
  app.add_option("--reconstruction-loss", *rec_loss, "--vae: l1 (LDM's) or mse (weighs badly wrong pixels more)")
      ->capture_default_str();
  app.add_option("--method", o->method, "afa | scalar | no-time | no-text | last-block-only")->capture_default_str();
  app.add_option("--hidden-size", o->hidden_size, "aggregator width")->capture_default_str();
  app.add_option("--heads", o->num_heads, "aggregator attention heads")->capture_default_str();
  app.add_option("--layers", o->num_layers, "aggregator transformer layers")->capture_default_str();
  app.add_option("--epochs", o->epochs, "epochs (counted from the start of training)")->capture_default_str();
  app.add_option("--max-steps", o->max_steps, "optimizer steps in all (overrides --epochs; 0: off)")
      ->capture_default_str();
  app.add_option("--batch-size", o->batch_size, "samples per process and micro-batch")->capture_default_str();
  app.add_option("--grad-accum", o->grad_accum, "micro-batches per optimizer step")->capture_default_str();
  app.add_option("--resolution", o->resolution, "training image size (shorter side resized, then cropped)")
      ->capture_default_str();
  app.add_flag("--center-crop", o->center_crop, "centre crop instead of a random crop");
  app.add_flag("--random-flip", o->random_flip, "random horizontal flips");
  app.add_option("--lr", o->lr, "AdamW learning rate")->capture_default_str();
  app.add_option("--weight-decay", o->weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  app.add_option("--warmup-steps", o->warmup_steps, "linear warm-up steps of the learning rate")
      ->capture_default_str();
  app.add_option("--lr-scheduler", o->lr_scheduler, "after the warm-up: constant, cosine (to 0) or linear (to 0)")
      ->check(CLI::IsMember(train::lr_scheduler_names()))
      ->capture_default_str();
  app.add_option("--max-grad-norm", o->max_grad_norm, "clip the gradient norm (0: off)")->capture_default_str();
  app.add_option("--drop-text", o->drop_text, "probability of the empty caption per sample")->capture_default_str();
  app.add_option("--seed", o->seed, "seed of the data order, crops and noise")->capture_default_str();
  app.add_option("--save-every", o->save_every, "checkpoint every K steps (0: only at the end)")
      ->capture_default_str();
  app.add_option("--val-fraction", o->val_fraction, "share of the data held out for validation")
      ->capture_default_str();
  app.add_option("--val-every", o->val_every, "validation loss every K steps")->capture_default_str();
  app.add_flag("--cache-latents", o->cache_latents, "encode the images once (OUTPUT/latent_cache)");
  app.add_option("--device", o->device, "cpu or cuda")->capture_default_str();
  app.add_option("--mixed-precision", o->mixed_precision,
                 "no | bf16 | fp16 (CUDA): frozen models in that dtype, forward under autocast")
      ->capture_default_str();
  app.add_flag("--gradient-checkpointing", o->gradient_checkpointing,
               "recompute U-Net stages and aggregators in the backward instead of storing activations");
  app.add_option("--threads", o->threads, "CPU threads (default: all cores)");
  app.add_option("--world-size", o->distributed.world_size, "data-parallel processes (default: $WORLD_SIZE or 1)");
  app.add_option("--rank", o->distributed.rank, "this process's rank (default: $RANK or 0)");
  app.add_option("--master-addr", o->distributed.master_addr, "rank 0's address (default: $MASTER_ADDR or 127.0.0.1)");
  app.add_option("--master-port", o->distributed.master_port, "rank 0's port (default: $MASTER_PORT or 29500)");
  app.add_flag("-q,--quiet", *quiet, "no progress output");
  return [&app, o, quiet, vae, kl_weight, crop_size, rec_loss] {
    o->progress = !*quiet;
    train::fill_from_checkpoint(*o, [&app](const std::string& option) { return app.count(option) > 0; });
    AFA_CHECK(!o->models.empty(), "give the models with -m (or continue a run with --resume DIR)");
    AFA_CHECK(!o->data.empty(), "give the training data with --data FILE.jsonl");
    AFA_CHECK(*vae || (app.count("--kl-weight") == 0 && app.count("--crop-size") == 0 &&
                       app.count("--reconstruction-loss") == 0),
              "--kl-weight, --crop-size and --reconstruction-loss are options of --vae (VAE training)");
    if (*vae) {
      AFA_CHECK(o->models.size() == 1, "--vae trains one model's VAE: give exactly one -m (got ", o->models.size(), ")");
      train::VaeTrainOptions v;
      v.model = o->models[0];
      v.config_files = o->config_files;
      v.data = o->data;
      v.output = o->output;
      v.steps = o->max_steps > 0 ? o->max_steps : v.steps;
      v.batch_size = o->batch_size;
      v.resolution = o->resolution;
      v.lr = o->lr;
      v.kl_weight = *kl_weight;
      v.crop_size = *crop_size;
      v.reconstruction_loss = *rec_loss;
      v.warmup_steps = o->warmup_steps;
      v.lr_scheduler = o->lr_scheduler;
      v.mixed_precision = o->mixed_precision;
      v.seed = o->seed;
      v.threads = o->threads;
      v.progress = o->progress;
      train::train_vae(v);
      return 0;
    }
    auto r = train::train(*o);
    return r.interrupted ? 130 : 0;
  };
}

}  // namespace afa::app
