// Benchmarks at Stable Diffusion 1.5 size with random weights (nothing to download): seconds per
// denoising step (batch 2, as under classifier-free guidance) for one U-Net and for AFA ensembles of
// N = 2, 3 U-Nets, VAE decode time, text-encoder time and peak resident memory.
//
//   bench_sd15 [--size 512] [--steps 3] [--models 3] [--what unet,vae,clip,ensemble] [--device cpu|cuda]
//              [--dtype f32|f16|bf16] [--threads N]
//   --what aggregators: the N-model aggregators alone on random features, seconds per aggregation point.
//   --profile PREFIX: after timing, one more step of the single U-Net and of each ensemble under torch's
//     profiler, written as Chrome traces PREFIX.single.json, PREFIX.afaN.json (bench/profile_summary.py sums
//     them per part).
//   bench_sd15 --what train [--models 3] [--size 256] [--batch 1] [--dtype f32|bf16] [--checkpointing 1]
//     one AFA training step (forward, backward, AdamW) of N frozen U-Nets and their aggregators: seconds,
//     samples/s and peak memory. --dtype is the frozen models' (bf16: under autocast, as --mixed-precision).
//     Run each setting in its own process: peak RSS only grows.
//   bench_sd15 --load FILE [--dtype f32|bf16]
//     the parts of loading one checkpoint (afa::pipeline::load_stable_diffusion's steps), timed one by one,
//     then the whole call: where the time from start to the first step goes.
//   bench_sd15 --write-sd15 DIR [--models 3] [--dtype f16|f32]
//     writes N random SD 1.5 single files in the LDM naming (as CivitAI ships them) for end-to-end
//     memory and speed runs of `afa generate` / `afa train` (bench/memory_sd15.sh).
#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/io/ldm_names.h"
#include "afa/io/model_config.h"
#include "afa/io/config_defaults.h"
#include "afa/io/config_from_weights.h"
#include "afa/io/sd15.h"
#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/autocast.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/text/clip_text_model.h"
#include "afa/train/adamw.h"
#include "afa/util/allocator.h"
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


// One random SD 1.5 checkpoint (U-Net, VAE, text encoder) as an LDM single file in `dtype`.
void write_random_sd15(const std::string& path, torch::Dtype dtype, uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<std::pair<std::string, torch::Tensor>> all;
  auto add = [&](afa::io::Component c, const nlohmann::json& config, torch::nn::Module& m) {
    std::map<std::string, torch::Tensor> named;
    for (const auto& [name, t] : afa::io::state_dict(m)) named[name] = t.to(dtype);
    auto ldm = afa::io::to_ldm_tensors(c, config, named, path);
    all.insert(all.end(), ldm.begin(), ldm.end());
  };
  {
    afa::models::UNet2DConditionModel unet(
        afa::models::UNet2DConditionConfig::from_json(afa::io::sd15_unet_config(), "SD 1.5 U-Net"));
    add(afa::io::Component::UNet, afa::io::sd15_unet_config(), *unet);
  }
  {
    afa::models::AutoencoderKL vae(afa::models::AutoencoderKLConfig::from_json(afa::io::sd15_vae_config(), "SD 1.5 VAE"));
    add(afa::io::Component::VAE, afa::io::sd15_vae_config(), *vae);
  }
  {
    afa::text::ClipTextModel clip(afa::text::ClipTextConfig::sd15());
    add(afa::io::Component::TextEncoder, afa::io::sd15_text_encoder_config(), clip);
  }
  afa::io::save_safetensors(path, all, {});
  std::printf("wrote %s (%zu tensors)\n", path.c_str(), all.size());
}

// Loading one checkpoint as load_stable_diffusion does it (timed first, in a fresh process), then part by
// part (each model freed before the next: peak memory stays that of one load).
void bench_load(const std::string& path, torch::Dtype dtype) {
  std::printf("# bench_sd15 --load %s (%s)\n", path.c_str(), std::string(c10::toString(dtype)).c_str());
  {
    afa::pipeline::LoadOptions lo;
    lo.dtype = dtype;
    const double t1 = now();
    auto sd = afa::pipeline::load_stable_diffusion(path, lo);
    std::printf("  %-34s %7.3f s   peak RSS %.2f GiB\n", "load_stable_diffusion", now() - t1, peak_rss_gib());
  }
  double t = now();
  auto lap = [&](const char* what) {
    const double t1 = now();
    std::printf("    %-32s %7.3f s\n", what, t1 - t);
    t = t1;
  };
  afa::models::SkipInitGuard skip_init;  // as load_stable_diffusion builds them
  auto ck = afa::io::load_checkpoint(path, {}, afa::io::kUNet | afa::io::kTextEncoder | afa::io::kVAE);
  lap("read the file's index (mmap)");
  auto tok = afa::pipeline::load_tokenizer(ck);
  lap("tokenizer");
  {
    afa::text::ClipTextModel clip(afa::text::ClipTextConfig::from_json(ck.text_encoder.config, ck.text_encoder.source));
    lap("text encoder: construct");
    afa::io::load_state_dict(clip, ck.text_encoder.tensors, ck.text_encoder.source);
    clip.to(dtype);
    lap("text encoder: copy the weights in");
  }
  {
    afa::models::UNet2DConditionModel unet(afa::models::UNet2DConditionConfig::from_json(ck.unet.config, ck.unet.source));
    lap("U-Net: construct");
    afa::io::load_state_dict(*unet, ck.unet.tensors, ck.unet.source);
    unet->to(dtype);
    lap("U-Net: copy the weights in");
  }
  afa::models::AutoencoderKL vae(afa::models::AutoencoderKLConfig::from_json(ck.vae.config, ck.vae.source));
  lap("VAE: construct");
  afa::io::load_state_dict(*vae, ck.vae.tensors, ck.vae.source);
  vae->to(dtype);
  lap("VAE: copy the weights in");
}

}  // namespace

int main(int argc, char** argv) {
  afa::reuse_freed_memory();  // as the afa program
  int64_t size = 512, steps = 3, n_models = 3;
  std::string what = "unet,vae,clip,ensemble", device_s = "cpu", dtype_s = "f32";
  std::string write_dir, profile, load_file;
  int threads = 0;
  int64_t batch = 1;
  bool checkpointing = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--size") size = std::stoll(v);
    else if (k == "--steps") steps = std::stoll(v);
    else if (k == "--models") n_models = std::stoll(v);
    else if (k == "--what") what = v;
    else if (k == "--device") device_s = v;
    else if (k == "--dtype") dtype_s = v;
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--write-sd15") write_dir = v;
    else if (k == "--batch") batch = std::stoll(v);
    else if (k == "--checkpointing") checkpointing = v != "0";
    else if (k == "--profile") profile = v;
    else if (k == "--load") load_file = v;
  }
  const int nt = afa::set_threads(threads);
  torch::Device dev(device_s);
  auto dtype = dtype_s == "f16" ? torch::kFloat16 : dtype_s == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  if (what == "train") {
    // Frozen U-Nets in --dtype, float32 aggregators, autocast when the U-Nets are half: the trainer's setup.
    auto cfg = afa::models::UNet2DConditionConfig::from_json(afa::io::sd15_unet_config(), "SD 1.5 U-Net");
    std::vector<afa::models::UNet2DConditionModel> unets;
    for (int64_t n = 0; n < n_models; ++n) {
      afa::models::UNet2DConditionModel u(cfg);
      u->to(dev, dtype);
      u->eval();
      for (auto& p : u->parameters()) p.set_requires_grad(false);
      unets.push_back(u);
    }
    afa::ensemble::AggregatorOptions ao;
    auto set = afa::ensemble::create_aggregators(unets[0]->stages(), n_models, 768, cfg.time_embed_dim(), ao);
    set.to(dev, torch::kFloat32);
    set.train(true);
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (size_t i = 0; i < set.aggregators.size(); ++i)
      for (auto& p : set.aggregators[i]->named_parameters()) named.emplace_back(std::to_string(i) + p.key(), p.value());
    afa::train::AdamW opt(named, {});
    afa::ensemble::AfaEnsemble afa(unets, std::move(set));
    afa.set_gradient_checkpointing(checkpointing);
    const int64_t lat = size / 8;
    auto x = torch::randn({batch, 4, lat, lat}).to(dev);
    auto noise = torch::randn({batch, 4, lat, lat}).to(dev);
    auto t = torch::randint(0, 1000, {batch}, torch::kLong).to(dev);
    std::vector<torch::Tensor> ctxs(n_models, torch::randn({batch, 77, 768}).to(dev, dtype));
    auto step = [&] {
      torch::Tensor loss;
      {
        afa::models::AutocastGuard autocast(dev, dtype);
        loss = (afa.predict(x, t, ctxs) - noise).pow(2).mean();
      }
      loss.backward();
      opt.step(1e-4);
      opt.zero_grad();
    };
    double s = time_it(int(steps), dev, step);
    std::printf("# bench_sd15 train: N=%lld, %lldx%lld, batch %lld, frozen %s, checkpointing %s, %s, %d threads\n",
                (long long)n_models, (long long)size, (long long)size, (long long)batch, dtype_s.c_str(),
                checkpointing ? "on" : "off", device_s.c_str(), nt);
    std::printf("train step: %.3f s   %.3f samples/s   peak RSS %.2f GiB\n", s, double(batch) / s, peak_rss_gib());
    return 0;
  }
  torch::NoGradGuard ng;
  if (!load_file.empty()) {
    bench_load(load_file, dtype);
    return 0;
  }
  if (!write_dir.empty()) {
    std::filesystem::create_directories(write_dir);
    for (int64_t i = 0; i < n_models; ++i)
      write_random_sd15(write_dir + "/random_sd15_" + std::to_string(i) + ".safetensors", dtype, uint64_t(100 + i));
    return 0;
  }
  std::printf("# bench_sd15: size %lld, %s %s, %d threads, torch %s\n", (long long)size, device_s.c_str(),
              dtype_s.c_str(), nt, TORCH_VERSION);
  const int64_t lat = size / 8;
  auto want = [&](const char* w) { return what.find(w) != std::string::npos; };

  auto unet_cfg = afa::models::UNet2DConditionConfig::from_json(afa::io::sd15_unet_config(), "SD 1.5 U-Net");
  auto ctx = torch::randn({2, 77, 768}).to(dev, dtype);
  auto x = torch::randn({2, 4, lat, lat}).to(dev, dtype);
  auto t = torch::tensor(500, torch::kLong);

  // One more run of f under the profiler, as a Chrome trace.
  auto profile_it = [&](const std::string& tag, auto&& f) {
    if (profile.empty()) return;
    torch::autograd::profiler::RecordProfile guard(profile + "." + tag + ".json");
    f();
    sync(dev);
  };
  double single = 0;
  if (want("unet") || want("ensemble")) {
    afa::models::UNet2DConditionModel unet(unet_cfg);
    unet->to(dev, dtype);
    unet->eval();
    single = time_it(int(steps), dev, [&] { unet->forward(x, t, ctx); });
    profile_it("single", [&] { unet->forward(x, t, ctx); });
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
  if (want("aggregators")) {
    // The 25 aggregators alone on random features of each stage's shape (the U-Nets' part of an AFA step
    // is N single steps): seconds per aggregator, summed, and as a share of N single steps.
    std::vector<afa::models::StageInfo> stages;
    {
      afa::models::UNet2DConditionModel u(unet_cfg);
      stages = u->stages();
    }
    afa::ensemble::AggregatorOptions ao;
    auto set = afa::ensemble::create_aggregators(stages, n_models, 768, unet_cfg.time_embed_dim(), ao);
    set.to(dev, dtype);
    set.train(false);
    auto temb = torch::randn({2, unet_cfg.time_embed_dim()}).to(dev, dtype);
    std::vector<torch::Tensor> feats;
    for (const auto& st : stages)
      feats.push_back(torch::randn({2, n_models, st.out_channels, lat / st.downscale, lat / st.downscale}).to(dev, dtype));
    std::vector<double> per(stages.size(), 0.0);
    auto run_all = [&](bool timed) {
      for (size_t k = 0; k < stages.size(); ++k) {
        double t0 = now();
        set.aggregators[k]->forward(feats[k], temb, ctx);
        sync(dev);
        if (timed) per[k] += now() - t0;
      }
    };
    run_all(false);
    for (int64_t r = 0; r < steps; ++r) run_all(true);
    double sum = 0;
    for (size_t k = 0; k < stages.size(); ++k) {
      sum += per[k] / steps;
      std::printf("aggregator %2zu %-32s %4lld ch %3lldx%-3lld: %.3f s\n", k, stages[k].name.c_str(),
                  (long long)stages[k].out_channels, (long long)(lat / stages[k].downscale),
                  (long long)(lat / stages[k].downscale), per[k] / steps);
    }
    std::printf("aggregators, N=%lld: %.3f s per step", (long long)n_models, sum);
    if (single > 0) std::printf(" = %.3f x (N x single step)", sum / (n_models * single));
    std::printf("   peak RSS %.2f GiB\n", peak_rss_gib());
    profile_it("aggregators" + std::to_string(n_models), [&] { run_all(false); });
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
      profile_it("afa" + std::to_string(n), [&] { afa.predict(x, t, ctxs); });
      std::printf("afa step, N=%lld (batch 2): %.3f s = %.2f x (N x single step)   peak RSS %.2f GiB\n",
                  (long long)n, s, s / (n * single), peak_rss_gib());
    }
  }
  return 0;
}
