// Text-to-image as diffusers' StableDiffusionPipeline does it: encode prompt and negative prompt,
// draw latents from the seeded CPU generator, denoise with classifier-free guidance (uncond and cond
// in one batch, uncond first), decode with the VAE.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "afa/pipeline/denoiser.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/schedulers/scheduler.h"

namespace afa::pipeline {

struct GenerateOptions {
  std::string prompt, negative_prompt;
  int64_t steps = 20;
  double cfg_scale = 7.5;
  std::string sampler = "pndm";   // make_scheduler names
  double eta = 0.0;               // DDIM only
  uint64_t seed = 42;
  int64_t width = 512, height = 512;
  int64_t batch = 1;              // images per prompt, drawn in one batch as diffusers' num_images_per_prompt
  // One prompt per batch row instead (batch = its size; `prompt` unused): many prompts in one sampling
  // run, e.g. the demo's table. Each row's noise still comes from `latents` or the one seeded draw.
  std::vector<std::string> prompts;
  torch::Tensor latents;          // optional unit-variance initial latents (diffusers' latents=)
  bool progress = true;
  // Asked before each step: true ends sampling there and decodes the latents reached, as A1111's
  // interrupt does (the server's POST /sdapi/v1/interrupt). To abandon a run instead, throw from the
  // StepCallback.
  std::function<bool()> stop;
};

// Called after each step with the step index and the current latents.
using StepCallback = std::function<void(int64_t step, int64_t total, const torch::Tensor& latents)>;

struct GenerateResult {
  torch::Tensor latents;  // final latents before decoding, float32 [B, 4, h, w]
  torch::Tensor images;   // decoded, float32 [B, 3, H, W] in about [-1, 1]
  int64_t steps_done = 0; // the scheduler's steps run (fewer than asked when `stop` ended the run)
};

// Per model: [2B or B, 77, D] states for (negative, prompt) — uncond rows first when CFG is on.
std::vector<torch::Tensor> encode_prompts(const std::vector<const StableDiffusion*>& models, const GenerateOptions& o);

// Validates sizes, steps, sampler; throws afa::Error with a message for the user.
void validate(const GenerateOptions& o, int64_t vae_factor);

// The whole pipeline. `models` give text encoders (one per denoiser model) and models[0] gives the VAE
// and the scheduler config.
GenerateResult generate(Denoiser& denoiser, const std::vector<const StableDiffusion*>& models,
                        const GenerateOptions& o, const StepCallback& on_step = nullptr);

// The latents diffusers' prepare_latents draws: randn(shape, Generator('cpu').manual_seed(seed)).
torch::Tensor seeded_latents(at::IntArrayRef shape, at::Generator& gen);
at::Generator make_cpu_generator(uint64_t seed);

// A seed from the system's entropy (--seed -1, the server's seed -1).
uint64_t random_seed();

}  // namespace afa::pipeline
