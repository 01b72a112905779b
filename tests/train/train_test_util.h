// Helpers of the training tests: temporary folders, a synthetic image-caption data set, tiny-model options.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "afa/ensemble/aggregators.h"
#include "afa/io/image.h"
#include "afa/io/state_dict.h"
#include "afa/train/trainer.h"
#include "test_util.h"
#include "tiny_models.h"

namespace afa::test {

// `n` small PNGs (a coloured rectangle on a coloured background, sizes varying around 64..96 px) with
// captions naming the colours, and data.jsonl listing them. Extra raw lines may be appended.
inline std::string make_synthetic_data(const std::filesystem::path& dir, int n,
                                       const std::vector<std::string>& extra_lines = {}) {
  static const char* names[] = {"red", "green", "blue", "yellow"};
  static const int rgb[4][3] = {{220, 30, 30}, {30, 200, 40}, {40, 60, 220}, {230, 220, 40}};
  std::filesystem::create_directories(dir / "images");
  std::ofstream f(dir / "data.jsonl");
  for (int i = 0; i < n; ++i) {
    const int h = 64 + (i % 3) * 8, w = 64 + (i % 4) * 8;
    const int bg = i % 4, fg = (i / 4 + 1 + i) % 4;
    auto img = torch::empty({h, w, 3}, torch::kUInt8);
    for (int c = 0; c < 3; ++c) img.select(2, c).fill_(rgb[bg][c]);
    const int top = 8 + (i * 5) % 20, left = 8 + (i * 7) % 20;
    for (int c = 0; c < 3; ++c) img.narrow(0, top, 28).narrow(1, left, 28).select(2, c).fill_(rgb[fg][c]);
    const std::string name = "img_" + std::to_string(i) + ".png";
    io::write_png((dir / "images" / name).string(), img);
    f << "{\"image\": \"images/" << name << "\", \"text\": \"a " << names[fg] << " square on " << names[bg]
      << "\"}\n";
  }
  for (const auto& l : extra_lines) f << l << "\n";
  return (dir / "data.jsonl").string();
}

// Options for the tiny A, B, C models at 128 px (16x16 latents, as the golden's) with small aggregators.
// At 64 px the U-Nets' deepest features are 1x1, where GroupNorm divides by a variance of almost
// nothing: gradients grow to ~15 (0.1 at 128 px) and rounding differences get amplified.
inline train::TrainOptions tiny_train_options(const std::string& data, const std::string& out) {
  train::TrainOptions o;
  for (const char* m : {"A", "B", "C"}) o.models.push_back(golden(std::string("pipelines/") + m + ".safetensors"));
  o.config_files = tiny_single_file_configs();
  o.data = data;
  o.output = out;
  o.resolution = 128;
  o.hidden_size = 32;
  o.num_heads = 4;
  o.warmup_steps = 0;
  o.save_every = 0;
  o.progress = false;
  o.seed = 3;
  o.threads = 1;  // tiny tensors: one thread is several times faster than two
  o.distributed.world_size = 1;  // whatever the environment says
  o.distributed.rank = 0;
  return o;
}

// Every aggregator tensor of a checkpoint, by "aggregator_i.<param>".
inline std::map<std::string, torch::Tensor> aggregator_weights(const std::string& dir) {
  auto set = ensemble::load_aggregators(dir);
  std::map<std::string, torch::Tensor> out;
  for (const auto& [k, v] : set.named_tensors()) out[k] = v;
  return out;
}

inline double max_weight_diff(const std::map<std::string, torch::Tensor>& a,
                              const std::map<std::string, torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end()) {
      ADD_FAILURE() << "missing " << k;
      continue;
    }
    d = std::max(d, (v.to(torch::kFloat64) - it->second.to(torch::kFloat64)).abs().max().item<double>());
  }
  return d;
}

inline std::vector<nlohmann::json> read_log(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream f(std::filesystem::path(dir) / "train_log.jsonl");
  std::string line;
  while (std::getline(f, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

}  // namespace afa::test
