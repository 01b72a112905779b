// DDIMScheduler (diffusers v0.20.2): denoising diffusion implicit models, https://arxiv.org/abs/2010.02502.
#pragma once

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

class DDIMScheduler : public Scheduler {
 public:
  explicit DDIMScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override { return 1.0; }
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "ddim"; }

  // diffusers' step kwargs: eta (0 = deterministic DDIM, 1 = DDPM-like) and use_clipped_model_output.
  double eta = 0.0;
  bool use_clipped_model_output = false;

  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }
  torch::Tensor add_noise(const torch::Tensor& x0, const torch::Tensor& noise, const torch::Tensor& timesteps) const;

 private:
  torch::Tensor variance(const torch::Tensor& alpha_prod_t, const torch::Tensor& alpha_prod_t_prev) const;

  SchedulerConfig cfg_;
  std::string spacing_;
  bool clip_sample_;
  BetaSchedule sched_;
  torch::Tensor final_alpha_cumprod_;
  torch::Tensor timesteps_;
  int64_t num_inference_steps_ = 0;
};

}  // namespace afa::schedulers
