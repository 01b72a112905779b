// --cache-latents: the VAE is frozen, so each image's latent distribution (mean and std) is computed once
// and kept on disk. A step then draws the latent sample from it with the same generator draws as the
// uncached path, so caching changes nothing but the crop: the cached one is the first epoch's (training
// samples) or the centre crop (validation samples), fixed for the whole run.
//
// Layout: DIR/cache.json (what the cache was made for) and DIR/shard_NNNNN.safetensors, each holding
// "mean" and "std" F32 [n, 4, h, w] and "valid" U8 [n] for `shard_size` consecutive sample indices.
// Shards are written atomically, so an interrupted build resumes where it stopped.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "afa/models/autoencoder_kl.h"
#include "afa/train/dataset.h"

namespace afa::io {
class SafeTensorsFile;
}

namespace afa::train {

class LatentCache {
 public:
  struct Encoded {
    torch::Tensor mean, stdev;   // [n, 4, h, w] float32, CPU
    std::vector<bool> valid;   // false: the image was unreadable (mean/std rows are zero)
  };
  // Encodes the given sample indices.
  using Encoder = std::function<Encoded(const std::vector<int64_t>& indices)>;

  // `key` describes what the latents depend on (data, resolution, transform, seed, VAE).
  LatentCache(std::string dir, nlohmann::json key, int64_t num_samples, int64_t shard_size = 64);
  ~LatentCache();

  // Main rank, before anyone fills: removes a cache made for another key and records this one.
  void reset_if_stale() const;
  // Encodes the missing shards this rank owns (shard % world == rank), calling `progress(done, total)`.
  void fill(int64_t rank, int64_t world, const Encoder& encode,
            const std::function<void(int64_t, int64_t)>& progress = nullptr) const;
  // Maps every shard; throws afa::Error naming a missing or malformed one.
  void open();

  // (mean, std) [4, h, w] of one sample, nullopt when its image was unreadable. Needs open().
  std::optional<std::pair<torch::Tensor, torch::Tensor>> get(int64_t index) const;
  // Indices whose images were unreadable. Needs open().
  std::vector<int64_t> invalid() const;

  const std::string& dir() const { return dir_; }

 private:
  std::string shard_path(int64_t shard) const;
  int64_t num_shards() const { return (num_samples_ + shard_size_ - 1) / shard_size_; }

  std::string dir_;
  nlohmann::json key_;
  int64_t num_samples_, shard_size_;
  struct Shard {
    std::shared_ptr<io::SafeTensorsFile> file;
    torch::Tensor mean, stdev, valid;
  };
  std::vector<Shard> shards_;
};

// The cache's encoder: the VAE posterior of each sample's image with its first-epoch crop (sample_draw.h;
// validation samples, those in `validation`, their fixed centre crop), in batches of `batch_size`.
// Unreadable images get zero rows and valid = false.
LatentCache::Encoded encode_for_cache(models::AutoencoderKL vae, const Dataset& data, const std::vector<int64_t>& indices,
                                      uint64_t seed, const ImageTransform& transform,
                                      const std::set<int64_t>& validation, int64_t batch_size, torch::Device device);

}  // namespace afa::train
