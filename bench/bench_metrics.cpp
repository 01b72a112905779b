// Images per second of afa eval's metric networks at full size, with the goldens' formula weights
// (tests/metrics/formula_weights.h; speed does not depend on the values, and nothing is downloaded):
// pytorch-fid's Inception (fid), torch-fidelity's path (is), CLIP ViT-L/14 (clip-t, clip-i, aes),
// PickScore's and HPSv2's ViT-H/14, ImageReward (BLIP ViT-L/16 + BERT with cross-attention). Each row
// times preprocessing of 512x512 uint8 images plus the forward pass (image decoding excluded), batch by
// batch after one warm-up batch; text towers are timed per prompt.
//
//   bench_metrics [--golden ../shared/golden] [--batch 8] [--batches 2] [--only fid,is,clip,pick,hps,ir]
//                 [--threads N]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <sstream>
#include <string>

#include "../tests/metrics/formula_weights.h"
#include "afa/metrics/clip_model.h"
#include "afa/metrics/clip_open_clip_names.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/image_reward.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/metrics/inception_v3.h"
#include "afa/util/json_file.h"
#include "afa/util/allocator.h"
#include "afa/util/threads.h"

namespace {

using namespace afa::metrics;
using Clock = std::chrono::steady_clock;

std::string g_golden = "../shared/golden";
int64_t g_batch = 8, g_batches = 2;

nlohmann::json keys(const std::string& file) { return afa::read_json_file(g_golden + "/metrics/" + file, "key list"); }

double peak_gb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / (1024.0 * 1024.0);
}

// Images per second of fn over g_batches batches of g_batch images, after one warm-up batch.
double images_per_second(const std::function<void(const torch::Tensor&)>& fn) {
  torch::NoGradGuard ng;
  torch::manual_seed(0);
  const auto u8 = torch::randint(0, 256, {g_batch, 3, 512, 512}, torch::kUInt8);
  fn(u8);
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < g_batches; ++i) fn(u8);
  return double(g_batch * g_batches) / std::chrono::duration<double>(Clock::now() - t0).count();
}

double prompts_per_second(const std::function<void()>& fn, int64_t n) {
  torch::NoGradGuard ng;
  fn();
  const auto t0 = Clock::now();
  for (int64_t i = 0; i < g_batches; ++i) fn();
  return double(n * g_batches) / std::chrono::duration<double>(Clock::now() - t0).count();
}

void row(const char* metric, const char* network, double ips, const std::string& note = "") {
  std::printf("| %-10s | %-40s | %8.2f | %6.1f | %s\n", metric, network, ips, peak_gb(), note.c_str());
  std::fflush(stdout);
}

ClipModel formula_clip(const std::string& file, const ClipConfig& cfg) {
  ClipModel m(cfg);
  auto sd = afa::test::formula_weights(keys(file)["keys"], std::sqrt(12.0));
  if (is_open_clip_naming(sd)) sd = open_clip_to_hf_names(sd, file);
  load_clip_weights(m, sd, file);
  m->eval();
  return m;
}

void bench_clip(const char* metric, const char* network, const std::string& file, const ClipConfig& cfg,
                ClipPreprocess path) {
  auto m = formula_clip(file, cfg);
  row(metric, network, images_per_second([&](const torch::Tensor& u8) {
        (void)m->image_features(clip_preprocess_batch(u8, path));
      }));
  const auto ids = torch::randint(0, 49406, {g_batch, 77}, torch::kInt64);
  row(metric, (std::string(network) + ", text").c_str(),
      prompts_per_second([&] { (void)m->text_features(ids); }, g_batch), "prompts/s, not images/s");
}

}  // namespace

int main(int argc, char** argv) {
  afa::reuse_freed_memory();  // as the afa program
  std::set<std::string> only;
  int threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--golden") g_golden = v;
    else if (k == "--batch") g_batch = std::stoll(v);
    else if (k == "--batches") g_batches = std::stoll(v);
    else if (k == "--threads") threads = std::stoi(v);
    else if (k == "--only") {
      std::stringstream ss(v);
      for (std::string s; std::getline(ss, s, ',');) only.insert(s);
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (const char* env = std::getenv("AFA_GOLDEN")) g_golden = env;
  afa::set_threads(threads);
  auto want = [&](const char* m) { return only.empty() || only.count(m); };
  std::printf("batch %lld, %lld timed batches, %d threads; 512x512 inputs\n", (long long)g_batch,
              (long long)g_batches, torch::get_num_threads());
  std::printf("| metric     | network                                  | images/s | peak GB | note\n");
  std::printf("|---|---|---:|---:|---|\n");

  if (want("fid") || want("is")) {
    InceptionV3 m;
    load_inception_weights(m, afa::test::formula_weights(keys("inception/inception_keys.json")["keys"], std::sqrt(24.0)),
                           "formula");
    m->eval();
    if (want("fid"))
      row("fid", "pytorch-fid InceptionV3, 299 bilinear", images_per_second([&](const torch::Tensor& u8) {
            (void)m->fid_features(uint8_to_float01(u8));
          }));
    if (want("is"))
      row("is", "torch-fidelity InceptionV3, 299 TF1 resize", images_per_second([&](const torch::Tensor& u8) {
            (void)m->fidelity_features(u8);
          }));
  }
  if (want("clip"))
    bench_clip("clip-t/i,aes", "CLIP ViT-L/14 (HF preprocessing)", "big/clip_l14_keys.json",
               ClipConfig::vit_large_patch14(), ClipPreprocess::kClipHf);
  if (want("pick"))
    bench_clip("pick", "PickScore ViT-H/14", "big/pick_h14_keys.json", ClipConfig::vit_huge_patch14(),
               ClipPreprocess::kClipHf);
  if (want("hps"))
    bench_clip("hps", "HPSv2 ViT-H/14 (ResizeMaxSize)", "big/hps_h14_keys.json", ClipConfig::vit_huge_patch14(),
               ClipPreprocess::kHpsv2);
  if (want("ir")) {
    const auto k = keys("big/ir_full_keys.json");
    ImageReward m(ImageRewardConfig::from_json({{"med_config", k["med_config"]}}, "ir_full"));
    load_image_reward_weights(m, afa::test::formula_weights(k["keys"], std::sqrt(12.0)), "formula");
    m->eval();
    const auto ids = torch::randint(1000, 30000, {g_batch, 35}, torch::kInt64);
    const auto mask = torch::ones({g_batch, 35}, torch::kInt64);
    row("ir", "ImageReward BLIP ViT-L/16 + BERT (prompt each)", images_per_second([&](const torch::Tensor& u8) {
          const auto img = m->image_embeds(clip_preprocess_batch(u8, ClipPreprocess::kTvPil));
          (void)m->reward(m->text_features(ids, mask, img));
        }));
  }
  return 0;
}
