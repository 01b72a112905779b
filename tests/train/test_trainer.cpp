// The training loop on the tiny A, B, C models and a synthetic data set: the loss goes down, a resumed
// run equals an uninterrupted one, unreadable images are skipped and counted, Ctrl-C saves a checkpoint,
// the output folder is protected.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <numeric>

#include "afa/io/safetensors.h"
#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"
#include "train_test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

TEST(Trainer, LossGoesDownOnSyntheticData) {
  TempDir dir("train_loss");
  auto data = make_synthetic_data(dir.path, 48);
  auto o = tiny_train_options(data, (dir.path / "out").string());
  o.max_steps = 40;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.val_fraction = 1.0 / 3;  // 16 held out, 32 trained on: 16 steps per epoch
  o.val_every = 20;
  o.save_every = 25;
  auto r = train::train(o);
  EXPECT_EQ(r.final_step, 40);
  EXPECT_EQ(r.samples, 80);
  ASSERT_GT(r.initial_val_loss, 0);
  ASSERT_GT(r.last_val_loss, 0);

  // The log: one line per step plus the validations at steps 0, 20 and 40. The validation loss (fixed
  // draws on held-out samples) falls at each of them (observed: 1.068, 1.050, 1.003), and so does the
  // training loss averaged over 20 steps.
  auto log = read_log(o.output);
  std::vector<double> val, loss;
  for (const auto& j : log) (j.contains("val_loss") ? val : loss).push_back(j.contains("val_loss") ? j["val_loss"] : j["loss"]);
  ASSERT_EQ(loss.size(), 40u);
  ASSERT_EQ(val.size(), 3u);
  std::cerr << "validation loss";
  for (double v : val) std::cerr << " " << v;
  std::cerr << "\n";
  for (size_t i = 1; i < val.size(); ++i) EXPECT_LT(val[i], val[i - 1]) << "validation " << i;
  EXPECT_LT(r.last_val_loss, 0.97 * r.initial_val_loss);
  EXPECT_DOUBLE_EQ(r.last_val_loss, val.back());
  const double first = std::accumulate(loss.begin(), loss.begin() + 20, 0.0) / 20;
  const double last = std::accumulate(loss.end() - 20, loss.end(), 0.0) / 20;
  std::cerr << "training loss, mean of the first / last 20 steps: " << first << " / " << last << "\n";
  EXPECT_LT(last, first);

  // The output is an aggregator checkpoint in the official layout, with the training state beside it.
  EXPECT_TRUE(fs::exists(fs::path(o.output) / "model_config.json"));
  EXPECT_TRUE(fs::exists(fs::path(o.output) / "aggregator_24" / "aggregator.safetensors"));
  auto set = ensemble::load_aggregators(o.output);
  EXPECT_EQ(set.aggregators.size(), 25u);
  EXPECT_EQ(set.aggregators[0]->config().hidden_size, 32);
  auto st = train::load_training_state(o.output);
  EXPECT_EQ(st.step, 40);
  EXPECT_EQ(st.epoch, 2);  // 16 steps per epoch
  EXPECT_EQ(st.step_in_epoch, 8);
  EXPECT_FALSE(st.optimizer.empty());
}

TEST(Trainer, ResumedRunEqualsUninterruptedRun) {
  TempDir dir("train_resume");
  auto data = make_synthetic_data(dir.path, 6);  // 3 steps per epoch: the resumed part crosses an epoch
  auto straight = tiny_train_options(data, (dir.path / "straight").string());
  straight.batch_size = 2;
  straight.lr = 1e-3;
  straight.max_steps = 4;
  straight.warmup_steps = 3;
  auto r1 = train::train(straight);
  EXPECT_EQ(r1.final_step, 4);

  auto first = straight;
  first.output = (dir.path / "resumed").string();
  first.max_steps = 2;
  auto r2 = train::train(first);
  EXPECT_EQ(r2.final_step, 2);
  auto second = first;
  second.output.clear();  // defaults to the --resume folder
  second.resume = first.output;
  second.max_steps = 4;
  auto r3 = train::train(second);
  EXPECT_EQ(r3.start_step, 2);
  EXPECT_EQ(r3.final_step, 4);

  auto a = aggregator_weights(straight.output), b = aggregator_weights(first.output);
  EXPECT_EQ(max_weight_diff(a, b), 0.0);
  auto sa = io::load_safetensors((fs::path(straight.output) / train::kStateTensors).string());
  auto sb = io::load_safetensors((fs::path(first.output) / train::kStateTensors).string());
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [k, v] : sa) EXPECT_TRUE(torch::equal(v, sb.at(k))) << k;
  auto la = read_log(straight.output), lb = read_log(first.output);
  ASSERT_EQ(la.size(), 4u);
  ASSERT_EQ(lb.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(la[i]["loss"], lb[i]["loss"]) << "step " << i + 1;

  // Resuming with a setting that decides the data order is refused, naming it.
  auto changed = second;
  changed.batch_size = 3;
  changed.max_steps = 6;
  try {
    train::train(changed);
    ADD_FAILURE() << "no error";
  } catch (const afa::Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_size"), std::string::npos) << e.what();
  }
}

TEST(Trainer, GradientCheckpointingAndBf16AutocastTrainAlike) {
  TempDir dir("train_memory");
  auto data = make_synthetic_data(dir.path, 4);
  auto plain = tiny_train_options(data, (dir.path / "plain").string());
  plain.batch_size = 2;
  plain.max_steps = 2;
  plain.lr = 1e-3;
  // AdamW's eps 1e-6 (not 1e-8): a gradient that is pure rounding noise (~1e-8, and different with
  // checkpointing, whose recomputation takes other conv kernels) then moves its weight by ~1e-2 lr
  // instead of lr times a random sign.
  plain.eps = 1e-6;
  auto r0 = train::train(plain);
  auto w0 = aggregator_weights(plain.output);

  // Checkpointing recomputes the same forward: the same losses, and gradients up to summation order
  // (tests/models/test_checkpoint.cpp compares them to 1e-6). AdamW divides by the gradients' own size,
  // so parameters with near-zero gradients turn that rounding into ~1e-5 of a weight; a gradient lost
  // or wrong would leave a difference of the order of lr = 1e-3.
  auto ck = plain;
  ck.output = (dir.path / "checkpointed").string();
  ck.gradient_checkpointing = true;
  auto r1 = train::train(ck);
  EXPECT_NEAR(r1.last_loss, r0.last_loss, 1e-5 * r0.last_loss);
  EXPECT_LT(max_weight_diff(w0, aggregator_weights(ck.output)), 1e-4);

  // bfloat16 frozen models under autocast (float32 aggregators): about the same loss, a real update.
  auto bf = plain;
  bf.output = (dir.path / "bf16").string();
  bf.mixed_precision = "bf16";
  bf.gradient_checkpointing = true;
  auto r2 = train::train(bf);
  std::cerr << "loss after 2 steps: float32 " << r0.last_loss << ", bf16 autocast " << r2.last_loss << "\n";
  ASSERT_TRUE(std::isfinite(r2.last_loss));
  EXPECT_NEAR(r2.last_loss, r0.last_loss, 0.01 * r0.last_loss);  // observed 1.00737 vs 1.0071
  auto w2 = aggregator_weights(bf.output);
  auto fresh = plain;
  fresh.output = (dir.path / "fresh").string();
  fresh.max_steps = 1;
  fresh.lr = 0;  // the initial weights, as a checkpoint
  train::train(fresh);
  auto init = aggregator_weights(fresh.output);
  EXPECT_GT(max_weight_diff(init, w2), 1e-4) << "bf16 training did not move the aggregators";

  auto f16 = plain;  // float16 autocast is CUDA's; the CPU has bfloat16 only
  f16.output = (dir.path / "fp16").string();
  f16.mixed_precision = "fp16";
  EXPECT_THROW(train::train(f16), Error);
  f16.mixed_precision = "fp8";
  EXPECT_THROW(train::train(f16), Error);
}

TEST(Trainer, CachedLatentsGiveTheSameFirstEpoch) {
  TempDir dir("train_cache");
  auto data = make_synthetic_data(dir.path, 4);
  auto plain = tiny_train_options(data, (dir.path / "plain").string());
  plain.batch_size = 2;
  plain.lr = 1e-3;
  plain.eps = 1e-6;  // see test_distributed.cpp: keeps rounding-noise gradients from taking lr-sized steps
  plain.max_steps = 2;
  train::train(plain);
  auto cached = plain;
  cached.output = (dir.path / "cached").string();
  cached.cache_latents = true;
  train::train(cached);
  EXPECT_TRUE(fs::exists(fs::path(cached.output) / "latent_cache" / "shard_00000.safetensors"));
  // Only the VAE's batching differs.
  const double d = max_weight_diff(aggregator_weights(plain.output), aggregator_weights(cached.output));
  std::cerr << "max |plain - cached| weight difference: " << d << "\n";
  // A gradient of pure rounding noise (~1e-8) moves its weight by up to lr*g/eps ~ 1e-5 with either sign:
  // 1e-4 leaves room for that, ten times below a real difference (lr = 1e-3).
  EXPECT_LT(d, 1e-4);
}

TEST(Trainer, UnreadableImagesAreSkippedOnceAndCounted) {
  TempDir dir("train_corrupt");
  std::ofstream(dir.path / "broken.png") << "\x89PNG\r\n\x1a\nnot really";
  auto data = make_synthetic_data(dir.path, 6,
                                  {"{\"image\": \"broken.png\", \"text\": \"x\"}",
                                   "{\"image\": \"missing.jpg\", \"text\": \"y\"}"});
  auto o = tiny_train_options(data, (dir.path / "out").string());
  o.batch_size = 2;
  o.max_steps = 8;  // two epochs of 4 steps: each bad image is met twice
  testing::internal::CaptureStderr();
  auto r = train::train(o);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r.final_step, 8);
  EXPECT_EQ(r.skipped_images, 2);
  EXPECT_EQ(r.samples, 8 * 2 - 2 * 2);
  size_t warnings = 0;
  for (size_t p = err.find("warning: skipping"); p != std::string::npos; p = err.find("warning: skipping", p + 1))
    ++warnings;
  EXPECT_EQ(warnings, 2u) << err;
  EXPECT_NE(err.find("broken.png"), std::string::npos) << err;
  EXPECT_NE(err.find("missing.jpg"), std::string::npos) << err;
  EXPECT_NE(err.find("skipped 2 unreadable image(s)"), std::string::npos) << err;
  std::ifstream f(fs::path(o.output) / train::kStateJson);
  auto j = nlohmann::json::parse(f);
  EXPECT_EQ(j["skipped_images"], 2);

  // The same with the latent cache: the images are met (and warned about) once, when it is built.
  auto c = o;
  c.output = (dir.path / "cached").string();
  c.cache_latents = true;
  testing::internal::CaptureStderr();
  auto rc = train::train(c);
  const std::string err_c = testing::internal::GetCapturedStderr();
  EXPECT_EQ(rc.skipped_images, 2);
  EXPECT_EQ(rc.samples, r.samples);
  warnings = 0;
  for (size_t p = err_c.find("warning: skipping"); p != std::string::npos; p = err_c.find("warning: skipping", p + 1))
    ++warnings;
  EXPECT_EQ(warnings, 2u) << err_c;
}

// Ctrl-C and SIGTERM (cluster schedulers, docker stop) both save a checkpoint and stop.
TEST(Trainer, InterruptSavesACheckpointAndStops) {
  for (int sig : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(sig == SIGINT ? "SIGINT" : "SIGTERM");
    TempDir dir("train_sigint");
    auto data = make_synthetic_data(dir.path, 4);
    auto o = tiny_train_options(data, (dir.path / "out").string());
    o.batch_size = 2;
    o.max_steps = 10;
    o.on_step = [sig](int64_t step) {
      if (step == 2) std::raise(sig);
    };
    testing::internal::CaptureStderr();
    auto r = train::train(o);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(r.interrupted);
    EXPECT_EQ(r.final_step, 2);
    EXPECT_NE(err.find(sig == SIGINT ? "interrupted (SIGINT) at step 2" : "interrupted (SIGTERM) at step 2"),
              std::string::npos) << err;
    EXPECT_EQ(train::load_training_state(o.output).step, 2);
    EXPECT_EQ(ensemble::load_aggregators(o.output).aggregators.size(), 25u);
    // The handler is gone again: the signal is back to what it was (gtest leaves the default).
    struct sigaction now {};
    sigaction(sig, nullptr, &now);
    EXPECT_EQ(now.sa_handler, SIG_DFL);
  }
}

TEST(Trainer, FineTunesOneUNetAndResumesExactly) {
  TempDir dir("train_unet");
  auto data = make_synthetic_data(dir.path, 4);
  auto o = tiny_train_options(data, (dir.path / "straight").string());
  o.models.resize(1);
  o.train_unet = true;
  o.batch_size = 2;
  o.lr = 1e-3;
  o.max_steps = 3;
  EXPECT_EQ(train::train(o).final_step, 3);

  // The output is the whole model as a single file: a changed U-Net, the source's text encoder and VAE.
  pipeline::LoadOptions lo;
  lo.config_files = tiny_single_file_configs();
  auto tuned = pipeline::load_stable_diffusion((fs::path(o.output) / "model.safetensors").string(), lo);
  auto source = load_tiny("A");
  auto diff = [](const torch::nn::Module& a, const torch::nn::Module& b) {
    auto pa = a.named_parameters(), pb = b.named_parameters();
    double d = 0;
    for (const auto& p : pa) d = std::max(d, (p.value() - pb[p.key()]).abs().max().item<double>());
    return d;
  };
  EXPECT_GT(diff(*tuned.unet, *source.unet), 1e-4);
  EXPECT_EQ(diff(*tuned.vae, *source.vae), 0.0);
  EXPECT_EQ(diff(*tuned.text_encoder, *source.text_encoder), 0.0);

  // 2 steps + resume to 3 = 3 steps straight.
  auto first = o;
  first.output = (dir.path / "resumed").string();
  first.max_steps = 2;
  train::train(first);
  auto second = first;
  second.output.clear();
  second.resume = first.output;
  second.max_steps = 3;
  EXPECT_EQ(train::train(second).final_step, 3);
  auto a = io::load_safetensors((fs::path(o.output) / "model.safetensors").string());
  auto b = io::load_safetensors((fs::path(first.output) / "model.safetensors").string());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
}

TEST(Trainer, ProtectsTheOutputFolderAndChecksOptions) {
  TempDir dir("train_protect");
  auto data = make_synthetic_data(dir.path, 2);
  auto o = tiny_train_options(data, (dir.path / "out").string());
  fs::create_directories(o.output);
  std::ofstream(fs::path(o.output) / "precious.txt") << "keep me";
  EXPECT_THROW(train::train(o), afa::Error);
  EXPECT_TRUE(fs::exists(fs::path(o.output) / "precious.txt"));

  auto bad = tiny_train_options(data, (dir.path / "out2").string());
  bad.models.resize(1);
  EXPECT_THROW(train::train(bad), afa::Error);
  bad = tiny_train_options(data, (dir.path / "out2").string());
  bad.method = "magic";
  EXPECT_THROW(train::train(bad), afa::Error);
  bad = tiny_train_options(data, (dir.path / "out2").string());
  bad.batch_size = 3;  // more than the 2 samples
  EXPECT_THROW(train::train(bad), afa::Error);
  bad = tiny_train_options(data, (dir.path / "out2").string());
  bad.resolution = 60;  // not a multiple of 64 (VAE 8 x U-Net 8)
  EXPECT_THROW(train::train(bad), afa::Error);
}

}  // namespace
}  // namespace afa::test
