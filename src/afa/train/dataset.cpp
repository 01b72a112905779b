#include "afa/train/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "afa/io/image.h"
#include "afa/train/random_streams.h"
#include "afa/util/error.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

// The first of `keys` present in `obj`, as a string; nullopt when none is present.
std::optional<std::string> string_field(const nlohmann::json& obj, std::initializer_list<const char*> keys,
                                        const std::string& where) {
  for (const char* k : keys) {
    auto it = obj.find(k);
    if (it == obj.end()) continue;
    AFA_CHECK(it->is_string(), where, ": '", k, "' must be a string, got ", it->type_name());
    return it->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

Dataset load_dataset(const std::string& jsonl_path) {
  std::ifstream f(jsonl_path);
  AFA_CHECK(f, jsonl_path, ": cannot open the data file");
  Dataset d;
  d.path = jsonl_path;
  const fs::path base = fs::path(jsonl_path).parent_path();
  std::string line;
  int64_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = jsonl_path + ":" + std::to_string(n);
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail(where, ": not valid JSON (", e.what(), ")");
    }
    AFA_CHECK(obj.is_object(), where, ": each line must be a JSON object, got ", obj.type_name());
    auto image = string_field(obj, {"image", "image_file", "file_name"}, where);
    AFA_CHECK(image && !image->empty(), where, ": no image path (key 'image', 'image_file' or 'file_name')");
    auto text = string_field(obj, {"text", "prompt", "caption"}, where);
    AFA_CHECK(text.has_value(), where, ": no caption (key 'text', 'prompt' or 'caption')");
    fs::path p(*image);
    if (p.is_relative()) p = base / p;
    d.samples.push_back({p.lexically_normal().string(), *text, n});
  }
  AFA_CHECK(!d.samples.empty(), jsonl_path, ": the data file holds no samples");
  return d;
}

Split split_dataset(int64_t num_samples, double val_fraction, uint64_t seed) {
  AFA_CHECK(val_fraction >= 0 && val_fraction < 1, "--val-fraction must be in [0, 1) (got ", val_fraction, ")");
  Split s;
  int64_t n_val = int64_t(std::llround(val_fraction * double(num_samples)));
  if (val_fraction > 0) n_val = std::max<int64_t>(n_val, 1);
  AFA_CHECK(n_val < num_samples, "--val-fraction ", val_fraction, " leaves no training samples of ", num_samples);
  if (n_val == 0) {
    for (int64_t i = 0; i < num_samples; ++i) s.train.push_back(i);
    return s;
  }
  auto gen = stream_generator(seed, Stream::kSplit);
  auto perm = torch::randperm(num_samples, gen, torch::kLong);
  auto p = perm.accessor<int64_t, 1>();
  for (int64_t i = 0; i < num_samples; ++i) (i < num_samples - n_val ? s.train : s.val).push_back(p[i]);
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  return s;
}

torch::Tensor resize_shorter_side(const torch::Tensor& hwc_u8, int64_t resolution) {
  AFA_CHECK(hwc_u8.dim() == 3 && hwc_u8.size(2) == 3, "image must be [H, W, 3], got ", hwc_u8.sizes());
  const int64_t h = hwc_u8.size(0), w = hwc_u8.size(1);
  auto chw = hwc_u8.permute({2, 0, 1});
  // torchvision: the short side becomes `resolution`, the long one int(resolution * long / short).
  const int64_t short_side = std::min(h, w), long_side = std::max(h, w);
  const int64_t new_long = int64_t(double(resolution) * double(long_side) / double(short_side));
  const int64_t nh = h <= w ? resolution : new_long, nw = h <= w ? new_long : resolution;
  if (nh == h && nw == w) return chw.contiguous();
  auto x = chw.unsqueeze(0).to(torch::kFloat32);
  x = torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{nh, nw})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  return x.squeeze(0).round().clamp(0, 255).to(torch::kUInt8);
}

torch::Tensor transform_image(const torch::Tensor& hwc_u8, const ImageTransform& t, at::Generator& gen) {
  AFA_CHECK(t.resolution >= 8, "--resolution must be at least 8 (got ", t.resolution, ")");
  auto img = resize_shorter_side(hwc_u8, t.resolution);
  const int64_t h = img.size(1), w = img.size(2), r = t.resolution;
  int64_t top, left;
  if (t.center_crop) {
    // torchvision CenterCrop: int(round((h - r) / 2)).
    top = int64_t(std::round(double(h - r) / 2.0));
    left = int64_t(std::round(double(w - r) / 2.0));
  } else {
    top = torch::randint(0, h - r + 1, {1}, gen, torch::kLong).item<int64_t>();
    left = torch::randint(0, w - r + 1, {1}, gen, torch::kLong).item<int64_t>();
  }
  img = img.narrow(1, top, r).narrow(2, left, r);
  if (t.random_flip && torch::rand({1}, gen).item<double>() < 0.5) img = img.flip({2});
  // ToTensor then Normalize([0.5], [0.5]).
  return (img.to(torch::kFloat32) / 255.0 - 0.5) / 0.5;
}

std::optional<torch::Tensor> load_training_image(const Sample& s, const ImageTransform& t, at::Generator& gen,
                                                 bool warn) {
  torch::Tensor hwc;
  try {
    hwc = io::read_image(s.image);
  } catch (const std::exception& e) {
    if (warn) std::cerr << "warning: skipping sample on line " << s.line << ": " << e.what() << "\n";
    return std::nullopt;
  }
  return transform_image(hwc, t, gen);
}

}  // namespace afa::train
