// A lower bound on the memory a generation needs, checked before anything is allocated: a typo such as
// -W 99992 must be refused at once with the reason, not after minutes of swapping and a failed
// allocation. The dominant terms: one head's attention scores at the finest attention level of the
// U-Net (the attention is computed in slices of heads, never fewer than one), the VAE's single-head
// mid-block attention over the latent pixels, and the decoder's full-resolution activations.
#pragma once

#include <cstdint>
#include <string>

#include "afa/models/unet_config.h"
#include "afa/models/vae_config.h"

namespace afa::pipeline {

struct MemoryEstimate {
  double bytes = 0;     // the lower bound
  std::string biggest;  // what dominates it, for the message
};

// `rows`: batch rows of one U-Net call (2x the images under CFG); `images`: images decoded at once.
MemoryEstimate estimate_generation_memory(const models::UNet2DConditionConfig& unet, const models::AutoencoderKLConfig& vae,
                                          int64_t height, int64_t width, int64_t rows, int64_t images,
                                          int64_t element_size);

// Physical memory of this machine in bytes (0 if unknown).
double physical_memory_bytes();

// Throws afa::Error when the estimate exceeds the machine's memory (CPU only: a GPU reports its own).
void check_memory(const MemoryEstimate& m, int64_t height, int64_t width, bool on_cpu);

}  // namespace afa::pipeline
