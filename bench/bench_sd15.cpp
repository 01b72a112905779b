// Benchmarks at Stable Diffusion 1.5 size with random weights (nothing to download): seconds per
// denoising step (batch 2, as under classifier-free guidance) for one U-Net and for AFA ensembles of
// N = 2, 3 U-Nets, VAE decode time, text-encoder time and peak resident memory.
//
//   bench_sd15 [--size 512] [--steps 3] [--models 3] [--what unet,vae,clip,ensemble] [--device cpu|cuda]
//              [--dtype f32|f16|bf16] [--threads N]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/io/model_config.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/text/clip_text_model.h"
#include "afa/util/threads.h"

namespace {

double peak_rss_gib() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0 / 1024.0;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void sync(const torch::Device& d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

template <typename F>
double time_it(int reps, const torch::Device& dev, F&& f) {
  f();  // warm-up
  sync(dev);
  double t0 = now();
  for (int i = 0; i < reps; ++i) f();
  sync(dev);
  return (now() - t0) / reps;
}


}  // namespace

int main(int argc, char** argv) {
  int64_t size = 512, steps = 3, n_models = 3;
  std::string what = "unet,vae,clip,ensemble", device_s = "cpu", dtype_s = "f32";
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--size") size = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--models") n_models = std::stoll(v);
    else if (k == "--what") what = v;
    else if (k == "--device") device_s = v;
    else if (k == "--dtype") dtype_s = v;
    else if (k == "--threads") threads = std::stoi(v);
  }
  const int nt = afa::set_threads(threads);
  torch::Device dev(device_s);
  auto dtype = dtype_s == "f16" ? torch::kFloat16 : dtype_s == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  torch::NoGradGuard ng;
  std::printf("# bench_sd15: size %lld, %s %s, %d threads, torch %s\n", (long long)size, device_s.c_str(),
              dtype_s.c_str(), nt, TORCH_VERSION);
  const int64_t lat = size / 8;
  auto want = [&](const char* w) { return what.find(w) != std::string::npos; };

  auto unet_cfg = afa::models::UNet2DConditionConfig::from_json(afa::io::sd15_unet_config(), "SD 1.5 U-Net");
  auto ctx = torch::randn({2, 77, 768}).to(dev, dtype);
  auto x = torch::randn({2, 4, lat, lat}).to(dev, dtype);
  auto t = torch::tensor(500, torch::kLong);

  double single = 0;
  if (want("unet") || want("ensemble")) {
    afa::models::UNet2DConditionModel unet(unet_cfg);
    unet->to(dev, dtype);
    unet->eval();
    single = time_it(int(steps), dev, [&] { unet->forward(x, t, ctx); });
    std::printf("unet step (batch 2, %lldx%lld): %.3f s   peak RSS %.2f GiB\n", (long long)size, (long long)size,
                single, peak_rss_gib());
  }
  if (want("vae")) {
    afa::models::AutoencoderKL vae(afa::models::AutoencoderKLConfig::from_json(afa::io::sd15_vae_config(), "SD 1.5 VAE"));
    vae->to(dev, dtype);
    vae->eval();
    auto z = torch::randn({1, 4, lat, lat}).to(dev, dtype);
    double s = time_it(1, dev, [&] { vae->decode(z); });
    std::printf("vae decode (1 image, %lldx%lld): %.3f s   peak RSS %.2f GiB\n", (long long)size, (long long)size, s,
                peak_rss_gib());
  }
  if (want("clip")) {
    afa::text::ClipTextModel clip(afa::text::ClipTextConfig::sd15());
    clip.to(dev, dtype);
    clip.eval();
    auto ids = torch::randint(0, 49408, {2, 77}, torch::kLong).to(dev);
    double s = time_it(3, dev, [&] { clip.forward(ids); });
    std::printf("text encoder (batch 2): %.3f s   peak RSS %.2f GiB\n", s, peak_rss_gib());
  }
  if (want("ensemble")) {
    std::vector<afa::models::UNet2DConditionModel> unets;
    for (int64_t n = 1; n <= n_models; ++n) {
      afa::models::UNet2DConditionModel u(unet_cfg);
      u->to(dev, dtype);
      u->eval();
      unets.push_back(u);
      if (n < 2) continue;
      afa::ensemble::AggregatorOptions ao;  // paper defaults: hidden 128, 1 layer, 8 heads
      auto set = afa::ensemble::create_aggregators(unets[0]->stages(), n, 768, unet_cfg.time_embed_dim(), ao);
      set.to(dev, dtype);
      afa::ensemble::AfaEnsemble afa(unets, std::move(set));
      std::vector<torch::Tensor> ctxs(n, ctx);
      double s = time_it(int(steps), dev, [&] { afa.predict(x, t, ctxs); });
      std::printf("afa step, N=%lld (batch 2): %.3f s = %.2f x (N x single step)   peak RSS %.2f GiB\n",
                  (long long)n, s, s / (n * single), peak_rss_gib());
    }
  }
  return 0;
}
