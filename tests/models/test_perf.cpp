// Timing probes, disabled by default (run with --gtest_also_run_disabled_tests --gtest_filter='*Perf*').
// They print wall times; they assert only that the output has the right shape.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"
#include "golden.h"

using namespace afa::models;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
int64_t env_int(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  return v ? std::atoll(v) : def;
}
}  // namespace

// The tiny golden U-Net: per-forward time of the small test case (overheads dominate).
TEST(Perf, DISABLED_TinyUNet) {
  const std::string dir = afa::test::golden("pipelines/A/unet");
  UNet2DConditionModel unet(UNet2DConditionConfig::from_file(dir + "/config.json"));
  torch::NoGradGuard ng;
  auto x = torch::randn({2, 4, 16, 16});
  auto ctx = torch::randn({2, 77, 32});
  unet->forward(x, torch::tensor(10), ctx);
  auto t0 = std::chrono::steady_clock::now();
  const int n = 10;
  for (int i = 0; i < n; ++i) unet->forward(x, torch::tensor(10), ctx);
  std::printf("tiny U-Net [2,4,16,16]: %.1f ms per forward (%d threads)\n", 1e3 * seconds_since(t0) / n,
              torch::get_num_threads());
}

// SD 1.5's U-Net (random weights) at latent AFA_PERF_SIZE (default 64 = 512x512 images), batch 2 (CFG).
TEST(Perf, DISABLED_SD15UNet) {
  UNet2DConditionConfig c;  // diffusers' defaults, with SD 1.5's cross_attention_dim
  c.cross_attention_dim = 768;
  UNet2DConditionModel unet(c);
  const int64_t size = env_int("AFA_PERF_SIZE", 64), batch = env_int("AFA_PERF_BATCH", 2);
  torch::NoGradGuard ng;
  auto x = torch::randn({batch, 4, size, size});
  auto ctx = torch::randn({batch, 77, 768});
  auto s = unet->begin(torch::tensor(500), ctx, batch);
  torch::Tensor h = x;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t k = 0; k < unet->num_stages(); ++k) {
    auto ts = std::chrono::steady_clock::now();
    h = unet->stage(k, h, s);
    std::printf("  stage %2lld %-36s %8.1f ms\n", (long long)k, unet->stage_info(k).name.c_str(),
                1e3 * seconds_since(ts));
  }
  std::printf("SD 1.5 U-Net [%lld,4,%lld,%lld]: %.2f s per forward (%d threads)\n", (long long)batch,
              (long long)size, (long long)size, seconds_since(t0), torch::get_num_threads());
  EXPECT_EQ(h.sizes(), x.sizes());
}

// SD 1.5's VAE decoder (random weights) from latent AFA_PERF_SIZE.
TEST(Perf, DISABLED_SD15VaeDecode) {
  AutoencoderKLConfig c;
  c.block_out_channels = {128, 256, 512, 512};
  c.layers_per_block = 2;
  AutoencoderKL vae(c);
  const int64_t size = env_int("AFA_PERF_SIZE", 64);
  torch::NoGradGuard ng;
  auto z = torch::randn({1, 4, size, size});
  auto t0 = std::chrono::steady_clock::now();
  auto img = vae->decode(z);
  std::printf("SD 1.5 VAE decode [1,4,%lld,%lld]: %.2f s (%d threads)\n", (long long)size, (long long)size,
              seconds_since(t0), torch::get_num_threads());
  EXPECT_EQ(img.size(2), size * 8);
}
