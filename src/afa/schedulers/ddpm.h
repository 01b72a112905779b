// DDPMScheduler (diffusers v0.20.2): denoising diffusion probabilistic models,
// https://arxiv.org/abs/2006.11239. Used for training (add_noise, alphas_cumprod) and as an ancestral
// sampler. Without set_timesteps it steps through all training timesteps, as diffusers does.
#pragma once

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

class DDPMScheduler : public Scheduler {
 public:
  explicit DDPMScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override { return 1.0; }
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "ddpm"; }

  // Forward process q(x_t | x_0): sqrt(ac[t]) x0 + sqrt(1 - ac[t]) noise; timesteps int64 [batch].
  torch::Tensor add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                          const torch::Tensor& timesteps) const;
  const torch::Tensor& betas() const { return sched_.betas; }
  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }
  int64_t num_train_timesteps() const { return cfg_.num_train_timesteps; }
  const std::string& variance_type() const { return variance_type_; }

 private:
  int64_t previous_timestep(int64_t t) const;
  torch::Tensor get_variance(int64_t t, const torch::Tensor& predicted_variance) const;

  SchedulerConfig cfg_;
  std::string spacing_;
  std::string variance_type_;
  bool clip_sample_;
  BetaSchedule sched_;
  torch::Tensor one_;
  torch::Tensor timesteps_;
  int64_t num_inference_steps_ = 0;  // 0: not set, step through all training timesteps
};

}  // namespace afa::schedulers
