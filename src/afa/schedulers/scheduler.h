// The sampler interface used by the pipelines, the diffusers beta schedules they share, and the factory.
//
// Every scheduler mirrors diffusers v0.20.2 operation by operation, with the same dtypes: the per-step
// scalars are 0-d float32 tensors (as diffusers indexes float32 alphas_cumprod / sigmas), and values that
// diffusers computes in numpy float64 are computed in double here, so results agree to the last bit or
// close to it.
//
// Steps are addressed by index into timesteps() rather than by timestep value: the pipeline loop is
//   sched->set_timesteps(n);  x = noise * sched->init_noise_sigma();
//   for (i = 0; i < sched->num_steps(); ++i) {
//     in = sched->scale_model_input(x, i);  eps = unet(in, sched->timestep(i));  x = sched->step(eps, i, x, gen);
//   }
// Stateful multistep schedulers (PNDM, DPM-Solver, LMS) require the steps in order 0, 1, 2, ...
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "afa/schedulers/scheduler_config.h"

namespace afa::schedulers {

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Computes the inference timesteps (and sigmas) for n steps and resets any multistep state.
  virtual void set_timesteps(int64_t num_inference_steps) = 0;
  // The t values fed to the U-Net: int64 (DDIM, PNDM, DPM, DDPM) or float64 (Euler, Euler a, LMS).
  virtual const torch::Tensor& timesteps() const = 0;
  virtual double init_noise_sigma() const = 0;
  virtual torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) = 0;
  // One step: model_output at timesteps()[step_index], current sample -> previous sample. `generator`
  // supplies the noise of stochastic samplers, drawn like diffusers' randn_tensor (on the generator's
  // device, in the model output's dtype, then moved). Without one the default generator is used.
  virtual torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                             c10::optional<at::Generator> generator = c10::nullopt) = 0;
  virtual std::string name() const = 0;

  // Number of U-Net evaluations of a sampling run (PNDM has one more than requested).
  // 0 before set_timesteps (DDPM: the training timesteps).
  int64_t num_steps() const { return timesteps().defined() ? timesteps().size(0) : 0; }
  // The 0-d timestep tensor for step i (the U-Net input).
  torch::Tensor timestep(int64_t step_index) const;
};

struct SamplerOptions;  // samplers.h
// names: the rows of sampler_table() (samplers.h): ddim, pndm, dpm++2m (DPM-Solver++ 2M: forces
// algorithm_type dpmsolver++, solver_order 2), dpm (DPM-Solver multistep as configured), euler, euler_a, lms,
// ddpm; also the diffusers class names and A1111's labels. Unknown names, and options the sampler does not
// take, are an afa::Error.
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& cfg,
                                          const SamplerOptions& options);
std::unique_ptr<Scheduler> make_scheduler(const std::string& name, const SchedulerConfig& cfg);
// The short names make_scheduler accepts, for help texts.
std::vector<std::string> scheduler_names();

// betas, alphas = 1 - betas and alphas_cumprod (float32, CPU), as diffusers builds them from the config.
struct BetaSchedule {
  torch::Tensor betas, alphas, alphas_cumprod;
};
// `allow_sigmoid`: only DDPM knows the sigmoid schedule; `rescale_zero_snr` is DDIM's
// rescale_betas_zero_snr. `who` names the scheduler in error messages.
BetaSchedule make_beta_schedule(const SchedulerConfig& cfg, const std::string& who, bool allow_sigmoid = false,
                                bool rescale_zero_snr = false);

// diffusers' betas_for_alpha_bar with the cosine transform (squaredcos_cap_v2), as float32.
torch::Tensor betas_for_alpha_bar(int64_t num_diffusion_timesteps, double max_beta = 0.999);
// diffusers' rescale_zero_terminal_snr (https://arxiv.org/abs/2305.08891, Algorithm 1).
torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas);

// diffusers' _threshold_sample (dynamic thresholding, Imagen): per-sample quantile of |x|, clamp, rescale.
torch::Tensor threshold_sample(const torch::Tensor& sample, double ratio, double max_value);

// sqrt(ac[t]) * x0 + sqrt(1 - ac[t]) * noise, broadcast over the batch (DDPM/DDIM add_noise).
torch::Tensor add_noise(const torch::Tensor& alphas_cumprod, const torch::Tensor& original_samples,
                        const torch::Tensor& noise, const torch::Tensor& timesteps);

// diffusers' randn_tensor(shape, generator, device=like.device, dtype=like.dtype) for one CPU or device
// generator: draws on the generator's device, then moves.
torch::Tensor randn_like_diffusers(const torch::Tensor& like, c10::optional<at::Generator> generator);

// The class-dependent defaults resolved: timestep_spacing etc.
std::string resolved_spacing(const SchedulerConfig& cfg, const char* class_default);
// DDIM's and DDPM's set_timesteps: n descending I64 timesteps of the training range by timestep_spacing
// (linspace, leading + steps_offset, trailing). Throws afa::Error naming `who` unless 1 <= n <= T.
torch::Tensor spaced_timesteps(const SchedulerConfig& cfg, const std::string& spacing, int64_t n,
                               const std::string& who);
// Throws afa::Error unless 0 <= step_index < n.
void check_step_index(int64_t step_index, int64_t n, const std::string& who);

}  // namespace afa::schedulers
