#include "afa/train/latent_cache.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "afa/io/safetensors.h"
#include "afa/train/sample_draw.h"
#include "afa/util/error.h"

namespace afa::train {

namespace fs = std::filesystem;

LatentCache::LatentCache(std::string dir, nlohmann::json key, int64_t num_samples, int64_t shard_size)
    : dir_(std::move(dir)), key_(std::move(key)), num_samples_(num_samples), shard_size_(shard_size) {
  AFA_CHECK(num_samples_ > 0 && shard_size_ > 0, "latent cache: empty");
  key_["num_samples"] = num_samples_;
  key_["shard_size"] = shard_size_;
}

LatentCache::~LatentCache() = default;

std::string LatentCache::shard_path(int64_t shard) const {
  char name[40];
  std::snprintf(name, sizeof name, "shard_%05lld.safetensors", (long long)shard);
  return (fs::path(dir_) / name).string();
}

void LatentCache::reset_if_stale() const {
  const fs::path meta = fs::path(dir_) / "cache.json";
  if (fs::exists(meta)) {
    nlohmann::json old;
    try {
      std::ifstream f(meta);
      old = nlohmann::json::parse(f);
    } catch (const std::exception&) {
      old = nullptr;  // unreadable: rebuild
    }
    if (old == key_) return;
  }
  fs::remove_all(dir_);
  fs::create_directories(dir_);
  const fs::path tmp = meta.string() + ".tmp";
  {
    std::ofstream f(tmp);
    AFA_CHECK(f, tmp.string(), ": cannot write");
    f << key_.dump(1) << "\n";
  }
  fs::rename(tmp, meta);
}

void LatentCache::fill(int64_t rank, int64_t world, const Encoder& encode,
                       const std::function<void(int64_t, int64_t)>& progress) const {
  std::vector<int64_t> todo;
  for (int64_t s = rank; s < num_shards(); s += world)
    if (!fs::exists(shard_path(s))) todo.push_back(s);
  int64_t done = 0;
  for (int64_t s : todo) {
    std::vector<int64_t> idx;
    for (int64_t i = s * shard_size_; i < std::min(num_samples_, (s + 1) * shard_size_); ++i) idx.push_back(i);
    Encoded e = encode(idx);
    AFA_CHECK(e.mean.size(0) == int64_t(idx.size()) && e.stdev.sizes() == e.mean.sizes() &&
                  e.valid.size() == idx.size(),
              "latent cache: the encoder returned ", e.mean.size(0), " rows for ", idx.size(), " samples");
    auto valid = torch::zeros({int64_t(idx.size())}, torch::kUInt8);
    for (size_t i = 0; i < idx.size(); ++i) valid[int64_t(i)] = int64_t(e.valid[i]);
    io::save_safetensors(shard_path(s), std::vector<std::pair<std::string, torch::Tensor>>{
                                            {"mean", e.mean.to(torch::kFloat32)},
                                            {"std", e.stdev.to(torch::kFloat32)},
                                            {"valid", valid}});
    if (progress) progress(++done, int64_t(todo.size()));
  }
}

void LatentCache::open() {
  shards_.clear();
  for (int64_t s = 0; s < num_shards(); ++s) {
    const std::string p = shard_path(s);
    AFA_CHECK(fs::exists(p), p, ": latent cache shard missing");
    Shard sh;
    sh.file = std::make_shared<io::SafeTensorsFile>(p);
    AFA_CHECK(sh.file->contains("mean") && sh.file->contains("std") && sh.file->contains("valid"), p,
              ": latent cache shard needs mean, std and valid");
    sh.mean = sh.file->get("mean");
    sh.stdev = sh.file->get("std");
    sh.valid = sh.file->get("valid");
    const int64_t n = std::min(num_samples_, (s + 1) * shard_size_) - s * shard_size_;
    AFA_CHECK(sh.mean.dim() == 4 && sh.mean.size(0) == n && sh.stdev.sizes() == sh.mean.sizes() &&
                  sh.valid.numel() == n,
              p, ": latent cache shard has the wrong shape (", sh.mean.sizes(), " for ", n, " samples)");
    shards_.push_back(std::move(sh));
  }
}

std::optional<std::pair<torch::Tensor, torch::Tensor>> LatentCache::get(int64_t index) const {
  AFA_CHECK(index >= 0 && index < num_samples_ && !shards_.empty(), "latent cache: sample ", index,
            " out of range or cache not open");
  const Shard& sh = shards_[index / shard_size_];
  const int64_t r = index % shard_size_;
  if (sh.valid[r].item<int64_t>() == 0) return std::nullopt;
  return std::make_pair(sh.mean[r], sh.stdev[r]);
}

std::vector<int64_t> LatentCache::invalid() const {
  std::vector<int64_t> out;
  for (size_t s = 0; s < shards_.size(); ++s) {
    auto v = shards_[s].valid.to(torch::kUInt8).contiguous();
    const uint8_t* d = v.data_ptr<uint8_t>();
    for (int64_t r = 0; r < v.numel(); ++r)
      if (d[r] == 0) out.push_back(int64_t(s) * shard_size_ + r);
  }
  return out;
}

LatentCache::Encoded encode_for_cache(models::AutoencoderKL vae, const Dataset& data, const std::vector<int64_t>& idx,
                                      uint64_t seed, const ImageTransform& transform,
                                      const std::set<int64_t>& validation, int64_t batch_size, torch::Device device) {
  LatentCache::Encoded e;
  std::vector<torch::Tensor> px;
  for (int64_t i : idx) {
    SampleDraw draw = sample_draw(seed, transform, i, 0, validation.count(i) != 0);
    auto img = load_training_image(data.samples[i], draw.transform, draw.augment);
    e.valid.push_back(img.has_value());
    px.push_back(img ? *img : torch::zeros({3, transform.resolution, transform.resolution}));
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> means, stds;
  for (size_t s = 0; s < px.size(); s += size_t(batch_size)) {
    const size_t end = std::min(px.size(), s + size_t(batch_size));
    auto d = vae->encode(
        torch::stack(std::vector<torch::Tensor>(px.begin() + s, px.begin() + end)).to(device, torch::kFloat32));
    means.push_back(d.mean.cpu());
    stds.push_back(d.std.cpu());
  }
  e.mean = torch::cat(means);
  e.stdev = torch::cat(stds);
  for (size_t k = 0; k < idx.size(); ++k)
    if (!e.valid[k]) {
      e.mean[int64_t(k)].zero_();
      e.stdev[int64_t(k)].zero_();
    }
  return e;
}

}  // namespace afa::train
