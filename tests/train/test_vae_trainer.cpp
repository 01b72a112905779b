// afa train --vae: the reconstruction loss goes down on a tiny set, the latent scale is measured, and the
// output is the whole model with the new VAE; a --unet fine-tune of a diffusers folder is a folder.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "afa/io/checkpoint.h"
#include "afa/train/fine_tuned_model.h"
#include "afa/train/vae_trainer.h"
#include "test_util.h"
#include "train_test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

// 40 steps on 20 synthetic 32x32 images of flat colour squares, one thread, the golden model A's VAE.
train::VaeTrainOptions tiny_vae_options(const fs::path& dir) {
  train::VaeTrainOptions o;
  o.model = golden("pipelines/A");
  o.data = make_synthetic_data(dir, 20);
  o.output = (dir / "out").string();
  o.steps = 40;
  o.batch_size = 4;
  o.resolution = 32;
  o.lr = 1e-3;
  o.warmup_steps = 0;
  o.log_every = 5;
  o.threads = 1;
  o.progress = false;
  return o;
}

TEST(VaeTrainer, ReconstructionImprovesAndTheModelIsWritten) {
  TempDir dir("train_vae");
  auto o = tiny_vae_options(dir.path);
  auto r = train::train_vae(o);
  // Flat colour squares are easy: 40 steps take a clear share off the first steps' L1 (0.74 -> 0.56 seen).
  EXPECT_LT(r.last_loss, 0.85 * r.first_loss) << r.first_loss << " -> " << r.last_loss;
  EXPECT_GT(r.heldout_l1, 0);
  EXPECT_GT(r.scaling_factor, 0);

  auto source = io::load_checkpoint(o.model), out = io::load_checkpoint(o.output);
  EXPECT_DOUBLE_EQ(out.vae.config.at("scaling_factor").get<double>(), r.scaling_factor);
  EXPECT_FALSE(torch::equal(out.vae.tensors.at("decoder.conv_out.weight"), source.vae.tensors.at("decoder.conv_out.weight")));
  for (const auto& [name, t] : source.unet.tensors) EXPECT_TRUE(torch::equal(t, out.unet.tensors.at(name))) << name;
  EXPECT_TRUE(fs::is_regular_file(fs::path(o.output) / "logs" / "vae_train_log.jsonl"));
  // Deterministic for a seed (one thread).
  o.output = (dir.path / "again").string();
  auto r2 = train::train_vae(o);
  EXPECT_EQ(r2.last_loss, r.last_loss);
  // The output is never overwritten.
  EXPECT_NE(error_of([&] { train::train_vae(o); }).find("exists"), std::string::npos);
}

TEST(VaeTrainer, Bf16AutocastCosineScheduleCropsAndMseTrainToo) {
  TempDir dir("train_vae_bf16");
  auto o = tiny_vae_options(dir.path);
  o.mixed_precision = "bf16";
  o.lr_scheduler = "cosine";
  o.crop_size = 24;
  auto r = train::train_vae(o);
  // The data of the float32 run above, in random 24x24 crops: bf16's rounding does not stop the descent,
  // and the held-out L1 (whole 32x32 images) is measured.
  EXPECT_LT(r.last_loss, 0.85 * r.first_loss) << r.first_loss << " -> " << r.last_loss;
  EXPECT_TRUE(std::isfinite(r.heldout_l1) && r.heldout_l1 > 0);
  // The weights stay float32 in the written model.
  auto out = io::load_checkpoint(o.output);
  EXPECT_EQ(out.vae.tensors.at("decoder.conv_out.weight").scalar_type(), torch::kFloat32);

  // Trained on squared error instead, the L1 it reports falls too (more slowly: squared error's gradient
  // is small where errors are: 0.74 -> 0.63 seen), and the run differs from the L1 run.
  o.output = (dir.path / "mse").string();
  o.reconstruction_loss = "mse";
  auto m = train::train_vae(o);
  EXPECT_LT(m.last_loss, 0.95 * m.first_loss) << m.first_loss << " -> " << m.last_loss;
  EXPECT_NE(m.last_loss, r.last_loss);
  o.reconstruction_loss = "l1";

  o.output = (dir.path / "bad").string();
  o.lr_scheduler = "cosin";
  EXPECT_NE(error_of([&] { train::train_vae(o); }).find("--lr-scheduler cosin"), std::string::npos);
  o.lr_scheduler = "cosine";
  o.mixed_precision = "fp16";
  EXPECT_NE(error_of([&] { train::train_vae(o); }).find("--mixed-precision fp16"), std::string::npos);
  o.mixed_precision = "bf16";
  o.crop_size = 33;
  EXPECT_NE(error_of([&] { train::train_vae(o); }).find("--crop-size"), std::string::npos);
  o.crop_size = 0;
  o.reconstruction_loss = "l2";
  EXPECT_NE(error_of([&] { train::train_vae(o); }).find("--reconstruction-loss l2"), std::string::npos);
  EXPECT_FALSE(fs::exists(o.output));
}

TEST(VaeTrainer, UNetFineTuneOfAFolderIsAFolder) {
  TempDir dir("train_unet_folder");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = tiny_train_options(data, (dir.path / "tuned").string());
  o.models = {golden("pipelines/A")};
  o.config_files.clear();
  o.train_unet = true;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.max_steps = 2;
  EXPECT_EQ(train::train(o).final_step, 2);
  const std::string model = train::fine_tuned_model_path(o.output);
  EXPECT_EQ(model, (fs::path(o.output) / "model").string());
  auto tuned = io::load_checkpoint(model), source = io::load_checkpoint(o.models[0]);
  EXPECT_EQ(tuned.format, "diffusers");
  EXPECT_FALSE(torch::equal(tuned.unet.tensors.at("conv_in.weight"), source.unet.tensors.at("conv_in.weight")));
  for (const auto& [name, t] : source.vae.tensors) EXPECT_TRUE(torch::equal(t, tuned.vae.tensors.at(name))) << name;
  EXPECT_TRUE(fs::is_regular_file(fs::path(model) / "tokenizer" / "merges.txt"));
  // It resumes from its own folder.
  o.resume = o.output;
  o.output.clear();
  o.max_steps = 3;
  EXPECT_EQ(train::train(o).final_step, 3);
}

}  // namespace
}  // namespace afa::test
