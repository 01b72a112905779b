// Training randomness without hidden state: every random draw (data order, crop, text dropout,
// timestep, VAE sample, noise) comes from a CPU generator seeded from (run seed, stream, epoch, sample).
// So a resumed run needs only the step counter to draw exactly what an uninterrupted one draws, and a
// sample gets the same draws whichever rank or micro-batch it lands in (data-parallel runs equal
// single-process ones).
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "afa/pipeline/text_to_image.h"

namespace afa::train {

enum class Stream : uint64_t {
  kOrder = 1,      // per epoch: the shuffle of the training samples
  kAugment = 2,    // per (epoch, sample): crop offsets and flip
  kDiffusion = 3,  // per (epoch, sample): text dropout, timestep, VAE sample, noise
  kSplit = 4,      // the train/validation split
  kValidation = 5, // per validation sample: fixed across evaluations
};

// SplitMix64 finaliser: a well-mixed 64-bit value from any input.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t derive_seed(uint64_t seed, Stream stream, uint64_t a = 0, uint64_t b = 0) {
  uint64_t h = mix64(seed);
  h = mix64(h ^ static_cast<uint64_t>(stream));
  h = mix64(h ^ a);
  h = mix64(h ^ b);
  return h;
}

inline at::Generator stream_generator(uint64_t seed, Stream stream, uint64_t a = 0, uint64_t b = 0) {
  return pipeline::make_cpu_generator(derive_seed(seed, stream, a, b));
}

}  // namespace afa::train
