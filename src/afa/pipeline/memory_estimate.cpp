#include "afa/pipeline/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "afa/util/error.h"

namespace afa::pipeline {

namespace {
std::string gib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, bytes >= 1e15 ? "%.3g GiB" : "%.1f GiB", bytes / double(1ull << 30));
  return buf;
}
}  // namespace

MemoryEstimate estimate_generation_memory(const models::UNet2DConditionConfig& unet,
                                          const models::AutoencoderKLConfig& vae, int64_t height, int64_t width,
                                          int64_t rows, int64_t images, int64_t element_size) {
  const double f = double(vae.downscale_factor());
  const double h = double(height) / f, w = double(width) / f, e = double(element_size);
  MemoryEstimate m;
  double largest = -1;
  auto consider = [&](double bytes, const std::string& what) {
    m.bytes += bytes;
    if (bytes > largest) largest = bytes, m.biggest = what;
  };
  // The U-Net's finest attention level: its scores for one head, float32 when upcast.
  double scale = 1;
  for (int64_t i = 0; i < unet.num_blocks(); ++i, scale *= 2)
    if (unet.down_has_attention(i)) break;
  const double tokens = (h / scale) * (w / scale);
  consider(tokens * tokens * std::max(e, 4.0), "the U-Net's attention scores over " + std::to_string(int64_t(tokens)) +
                                                   " positions");
  // Its activations at the latent resolution (the skip connections of every level stay alive).
  consider(double(rows) * double(unet.block_out_channels.at(0)) * h * w * e * 12, "the U-Net's activations");
  // The VAE: single-head attention over the latent pixels, then full-resolution decoder activations.
  consider((h * w) * (h * w) * 4, "the VAE's attention over " + std::to_string(int64_t(h * w)) + " latent pixels");
  consider(double(images) * double(vae.block_out_channels.at(0)) * double(height) * double(width) * 4 * 4,
           "the VAE decoder's activations");
  return m;
}

double physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? double(pages) * double(page) : 0;
}

void check_memory(const MemoryEstimate& m, int64_t height, int64_t width, bool on_cpu) {
  if (!on_cpu) return;
  const double total = physical_memory_bytes();
  AFA_CHECK(total <= 0 || m.bytes <= total, "a ", width, "x", height, " image needs at least ", gib(m.bytes),
            " (mostly ", m.biggest, ") and this machine has ", gib(total), " of memory: choose a smaller -W/-H");
}

}  // namespace afa::pipeline
