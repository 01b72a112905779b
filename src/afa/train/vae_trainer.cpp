#include "afa/train/vae_trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "afa/io/checkpoint.h"
#include "afa/io/diffusers_folder.h"
#include "afa/io/state_dict.h"
#include "afa/models/autocast.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/layers.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/train/adamw.h"
#include "afa/train/dataset.h"
#include "afa/train/random_streams.h"
#include "afa/train/train_options.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"
#include "afa/util/threads.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

void check_options(const VaeTrainOptions& o) {
  AFA_CHECK(!o.model.empty(), "give the model whose VAE to train with -m");
  AFA_CHECK(!o.data.empty(), "give the training images with --data FILE.jsonl");
  AFA_CHECK(!o.output.empty(), "give the output folder with -o/--output");
  AFA_CHECK(!fs::exists(o.output), o.output, ": exists; choose another -o/--output");
  AFA_CHECK(o.steps >= 1, "--max-steps must be at least 1 (got ", o.steps, ")");
  AFA_CHECK(o.batch_size >= 1, "--batch-size must be at least 1 (got ", o.batch_size, ")");
  AFA_CHECK(o.lr > 0, "--lr must be positive (got ", o.lr, ")");
  AFA_CHECK(o.kl_weight >= 0, "--kl-weight must not be negative (got ", o.kl_weight, ")");
  AFA_CHECK(o.log_every >= 1, "--log-every must be at least 1");
  AFA_CHECK(o.reconstruction_loss == "l1" || o.reconstruction_loss == "mse", "--reconstruction-loss ",
            o.reconstruction_loss, ": unknown (l1 or mse)");
  AFA_CHECK(o.crop_size >= 0 && o.crop_size <= o.resolution, "--crop-size must be between 0 (whole images) and ",
            "--resolution ", o.resolution, " (got ", o.crop_size, ")");
  const auto& names = lr_scheduler_names();
  AFA_CHECK(std::find(names.begin(), names.end(), o.lr_scheduler) != names.end(), "--lr-scheduler ",
            o.lr_scheduler, ": unknown (constant, cosine or linear)");
  AFA_CHECK(o.mixed_precision == "no" || o.mixed_precision == "bf16", "--mixed-precision ", o.mixed_precision,
            ": the VAE trains on the CPU in float32 (no) or under bfloat16 autocast (bf16)");
}

// The images of `indices`, decoded once into uint8 [n, 3, R, R] (the centre crop at the resolution), so
// that steps do not decode PNGs again; unreadable ones are left out.
torch::Tensor load_images(const Dataset& data, const std::vector<int64_t>& indices, int64_t resolution) {
  ImageTransform t;
  t.resolution = resolution;
  t.center_crop = true;
  at::Generator unused = stream_generator(0, Stream::kAugment);
  std::vector<torch::Tensor> out;
  ProgressBar bar("reading images", int64_t(indices.size()), ProgressBar::stderr_is_terminal());
  for (size_t k = 0; k < indices.size(); ++k) {
    auto img = load_training_image(data.samples[indices[k]], t, unused);
    if (img) out.push_back(((*img + 1) * 127.5).round().clamp(0, 255).to(torch::kUInt8));
    bar.update(int64_t(k + 1));
  }
  bar.finish();
  AFA_CHECK(!out.empty(), data.path, ": no readable image");
  return torch::stack(out);
}

torch::Tensor to_unit_range(const torch::Tensor& u8) { return u8.to(torch::kFloat32) / 127.5 - 1; }

// A random size x size crop of each image of the batch [B, 3, R, R], offsets drawn from `gen`.
torch::Tensor random_crops(const torch::Tensor& batch, int64_t size, at::Generator& gen) {
  const int64_t r = batch.size(2);
  if (size == 0 || size == r) return batch;
  auto offsets = torch::randint(r - size + 1, {batch.size(0), 2}, gen, torch::kLong);
  std::vector<torch::Tensor> crops;
  for (int64_t i = 0; i < batch.size(0); ++i) {
    const int64_t y = offsets[i][0].item<int64_t>(), x = offsets[i][1].item<int64_t>();
    crops.push_back(batch[i].narrow(1, y, size).narrow(2, x, size));
  }
  return torch::stack(crops);
}

// KL(N(mean, std^2) || N(0, 1)) summed over the latent elements, per sample, in float32.
torch::Tensor kl_to_standard_normal(const models::DiagonalGaussian& d) {
  auto mean = d.mean.to(torch::kFloat32), logvar = d.logvar.to(torch::kFloat32);
  return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum({1, 2, 3});
}

}  // namespace

VaeTrainResult train_vae(const VaeTrainOptions& o) {
  // 1. Options, the source model's VAE, the images.
  check_options(o);
  set_threads(o.threads);
  auto ck = io::load_checkpoint(o.model, o.config_files);
  auto cfg = models::AutoencoderKLConfig::from_json(ck.vae.config, ck.vae.source);
  AFA_CHECK(o.resolution % cfg.downscale_factor() == 0, "--resolution ", o.resolution,
            " must be a multiple of the VAE's factor ", cfg.downscale_factor());
  auto vae = models::build_for_loading<models::AutoencoderKL>(cfg);
  io::load_state_dict(*vae, ck.vae.tensors, ck.vae.source);
  vae->to(torch::kFloat32);
  vae->train();
  auto data = load_dataset(o.data);
  auto split = split_dataset(int64_t(data.samples.size()), 1.0 / 16, o.seed);
  torch::Tensor train_images = load_images(data, split.train, o.resolution);
  const int64_t n = train_images.size(0);
  AFA_CHECK(n >= o.batch_size, o.data, ": ", n, " readable training images are fewer than one batch of ", o.batch_size);

  // 2. The loop: shuffled epochs, one posterior sample per image, L1 + KL, AdamW.
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (auto& p : vae->named_parameters()) named.emplace_back(p.key(), p.value());
  AdamWOptions ao;
  ao.lr = o.lr;
  ao.weight_decay = 0;
  AdamW opt(named, ao);
  const auto amp = amp_dtype(o.mixed_precision);
  const int64_t steps_per_epoch = n / o.batch_size;
  std::vector<nlohmann::json> log;
  VaeTrainResult r;
  RunningMean l1_mean(size_t(o.log_every)), kl_mean(size_t(o.log_every));
  ProgressBar bar("train vae", o.steps, o.progress && ProgressBar::stderr_is_terminal());
  torch::Tensor order;
  for (int64_t step = 0; step < o.steps; ++step) {
    const int64_t epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    if (k == 0) {
      auto g = stream_generator(o.seed, Stream::kOrder, uint64_t(epoch));
      order = torch::randperm(n, g, torch::kLong);
    }
    auto idx = order.slice(0, k * o.batch_size, (k + 1) * o.batch_size);
    auto crop_gen = stream_generator(o.seed, Stream::kAugment, uint64_t(epoch), uint64_t(k));
    auto x = to_unit_range(random_crops(train_images.index_select(0, idx), o.crop_size, crop_gen));
    auto gen = stream_generator(o.seed, Stream::kDiffusion, uint64_t(epoch), uint64_t(k));
    torch::Tensor l1, kl, rec_loss;
    {
      models::AutocastGuard autocast(torch::kCPU, amp);  // the forward only; the loss in float32
      auto d = vae->encode(x);
      auto rec = vae->decode(d.sample(gen));
      auto err = rec.to(torch::kFloat32) - x;
      l1 = err.abs().mean();
      rec_loss = o.reconstruction_loss == "mse" ? err.pow(2).mean() : l1;
      kl = kl_to_standard_normal(d).mean();
    }
    auto loss = rec_loss + o.kl_weight * kl;
    opt.zero_grad();
    loss.backward();
    opt.step(scheduled_lr(o.lr_scheduler, o.lr, step, o.warmup_steps, o.steps));
    const double l1v = l1_mean.add(l1.item<double>()), klv = kl_mean.add(kl.item<double>());
    if (step + 1 == o.log_every) r.first_loss = l1v;
    r.last_loss = l1v;
    r.last_kl = klv;
    char extra[96];
    std::snprintf(extra, sizeof extra, "step %lld/%lld L1 %.4f KL %.1f", (long long)step + 1, (long long)o.steps, l1v, klv);
    bar.update(step + 1, extra);
    if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
      log.push_back({{"step", step + 1}, {"l1", l1v}, {"kl", klv}, {"time_s", bar.elapsed_seconds()}});
      if (!bar.enabled() && o.progress) std::cerr << "train vae: " << extra << "\n";
    }
  }
  bar.finish();
  if (r.first_loss == 0) r.first_loss = r.last_loss;

  // 3. The latent scale (SD's 0.18215 was measured the same way) and the held-out reconstruction.
  vae->eval();
  {
    torch::NoGradGuard ng;
    auto g = stream_generator(o.seed, Stream::kValidation, 0);
    std::vector<torch::Tensor> zs;
    for (int64_t s = 0; s < std::min<int64_t>(n, 512); s += o.batch_size)
      zs.push_back(vae->encode(to_unit_range(train_images.slice(0, s, std::min(n, s + o.batch_size)))).sample(g));
    r.scaling_factor = 1.0 / torch::cat(zs).to(torch::kFloat64).std().item<double>();
    if (!split.val.empty()) {
      auto held = load_images(data, split.val, o.resolution);
      double sum = 0;
      for (int64_t s = 0; s < held.size(0); s += o.batch_size) {
        auto x = to_unit_range(held.slice(0, s, std::min(held.size(0), s + o.batch_size)));
        sum += (vae->decode(vae->encode(x).mean) - x).abs().mean({1, 2, 3}).sum().item<double>();
      }
      r.heldout_l1 = sum / double(held.size(0));
    }
  }

  // 4. The model with this VAE, as a diffusers folder, and the log beside its weights.
  io::PipelineFolder p;
  nlohmann::json vcfg = ck.vae.config;
  vcfg["scaling_factor"] = r.scaling_factor;
  vcfg["sample_size"] = o.resolution;
  p.vae = {vcfg, io::state_dict(*vae)};
  p.unet = {ck.unet.config, ck.unet.tensors};
  p.text_encoder = {ck.text_encoder.config, ck.text_encoder.tensors};
  p.tokenizer_dir = ck.tokenizer_dir.empty() ? pipeline::default_tokenizer_dir() : ck.tokenizer_dir;
  p.scheduler_config = ck.scheduler_config;
  io::save_diffusers_folder(o.output, p);
  fs::create_directories(fs::path(o.output) / "logs");
  std::ofstream f(fs::path(o.output) / "logs" / "vae_train_log.jsonl");
  for (const auto& line : log) f << line.dump() << "\n";
  std::cerr << "trained the VAE for " << o.steps << " steps (" << format_duration(bar.elapsed_seconds())
            << "): L1 " << r.first_loss << " -> " << r.last_loss << ", held-out L1 " << r.heldout_l1
            << ", scaling_factor " << r.scaling_factor << "; wrote " << o.output << "\n";
  return r;
}

}  // namespace afa::train
