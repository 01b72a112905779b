#include "afa/pipeline/text_to_image.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <random>

#include "afa/pipeline/memory_estimate.h"
#include "afa/schedulers/samplers.h"
#include "afa/util/error.h"
#include "afa/util/progress.h"

namespace afa::pipeline {

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) | rd();
}

torch::Tensor seeded_latents(at::IntArrayRef shape, at::Generator& gen) {
  return torch::randn(shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
}

void validate(const GenerateOptions& o, int64_t vae_factor) {
  AFA_CHECK(o.steps >= 1, "--steps must be at least 1 (got ", o.steps, ")");
  AFA_CHECK(o.width > 0 && o.height > 0 && o.width % vae_factor == 0 && o.height % vae_factor == 0,
            "image size ", o.width, "x", o.height, " is impossible: width and height must be positive multiples of ",
            vae_factor);
  AFA_CHECK(o.batch >= 1, "--batch-count must be at least 1 (got ", o.batch, ")");
  // Settings past these bounds only overflow into an all-black image.
  AFA_CHECK(std::isfinite(o.cfg_scale) && o.cfg_scale >= 0 && o.cfg_scale <= 1000,
            "--cfg-scale must be a number in [0, 1000] (got ", o.cfg_scale, ")");
  AFA_CHECK(std::isfinite(o.eta) && o.eta >= 0 && o.eta <= 1,
            "--eta must be in [0, 1] (0: deterministic DDIM, 1: DDPM's noise; got ", o.eta, ")");
}

std::vector<torch::Tensor> encode_prompts(const std::vector<const StableDiffusion*>& models,
                                          const GenerateOptions& o) {
  torch::NoGradGuard no_grad;
  const bool cfg = o.cfg_scale > 1.0;  // diffusers: do_classifier_free_guidance = guidance_scale > 1
  const int64_t batch = o.prompts.empty() ? o.batch : static_cast<int64_t>(o.prompts.size());
  std::vector<std::string> texts;
  if (cfg) texts.insert(texts.end(), batch, o.negative_prompt);
  if (o.prompts.empty()) texts.insert(texts.end(), batch, o.prompt);
  else texts.insert(texts.end(), o.prompts.begin(), o.prompts.end());
  std::vector<torch::Tensor> out;
  for (const auto* m : models) {
    auto ids = m->tokenizer->encode_batch(texts).to(m->unet->device());
    out.push_back(m->text_encoder->forward(ids).to(m->unet->dtype()));
  }
  return out;
}

GenerateResult generate(Denoiser& denoiser, const std::vector<const StableDiffusion*>& models,
                        const GenerateOptions& o, const StepCallback& on_step) {
  AFA_CHECK(!models.empty() && models[0]->vae, "generate needs a model with a VAE");
  AFA_INTERNAL_ASSERT(models.size() == denoiser.num_models(), "the denoiser expects ", denoiser.num_models(),
            " models, got ", models.size());
  models::AutoencoderKL vae = models[0]->vae;  // a shared handle; decode() is not const
  const int64_t f = vae->config().downscale_factor();
  validate(o, f);
  torch::NoGradGuard no_grad;
  const int64_t batch = o.prompts.empty() ? o.batch : static_cast<int64_t>(o.prompts.size());
  const auto& unet = models[0]->unet;
  check_memory(estimate_generation_memory(unet->config(), vae->config(), o.height, o.width,
                                          batch * (o.cfg_scale > 1.0 ? 2 : 1), batch,
                                          int64_t(c10::elementSize(unet->dtype()))),
               o.height, o.width, unet->device().is_cpu());

  auto scheduler = schedulers::make_scheduler(o.sampler, models[0]->scheduler_config, {o.eta});
  scheduler->set_timesteps(o.steps);

  auto contexts = encode_prompts(models, o);
  const bool cfg = o.cfg_scale > 1.0;

  // Latents are drawn on the CPU generator (reproducible across devices) and kept in float32.
  at::Generator gen = make_cpu_generator(o.seed);
  const int64_t c = vae->config().latent_channels;
  std::vector<int64_t> shape = {batch, c, o.height / f, o.width / f};
  torch::Tensor latents;
  if (o.latents.defined()) {
    AFA_CHECK(o.latents.sizes() == at::IntArrayRef(shape), "--latents-in has shape ", o.latents.sizes(),
              " but this generation needs ", at::IntArrayRef(shape));
    latents = o.latents.to(torch::kFloat32);
  } else {
    latents = seeded_latents(shape, gen);
  }
  latents = latents * scheduler->init_noise_sigma();

  const int64_t n = scheduler->num_steps();
  ProgressBar bar("sampling", n, o.progress);
  int64_t done = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (o.stop && o.stop()) break;
    auto model_in = cfg ? torch::cat({latents, latents}) : latents;
    model_in = scheduler->scale_model_input(model_in, i);
    auto noise = denoiser.guided(model_in, scheduler->timestep(i), contexts, cfg ? o.cfg_scale : 1.0)
                     .to(torch::kCPU, torch::kFloat32);
    latents = scheduler->step(noise, i, latents, gen);
    // NaN or inf never recovers: stop at the step where it appears instead of decoding a black image.
    AFA_CHECK(torch::isfinite(latents).all().item<bool>(), "step ", i + 1, " of ", n, " (timestep ",
              scheduler->timestep(i).item<double>(), "): the latents became NaN or infinite; the model weights (NaN or "
              "overflowing, e.g. in float16: try --dtype bf16 or f32) or the settings (--cfg-scale ",
              o.cfg_scale, ") make the sampling diverge");
    done = i + 1;
    bar.update(i + 1);
    if (on_step) on_step(i, n, latents);
  }
  bar.finish();

  GenerateResult r;
  r.latents = latents;
  r.steps_done = done;
  auto z = (latents / vae->config().scaling_factor).to(vae->device(), vae->dtype());
  r.images = vae->decode(z).to(torch::kCPU, torch::kFloat32);
  return r;
}

}  // namespace afa::pipeline
