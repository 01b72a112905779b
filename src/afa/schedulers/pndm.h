// PNDMScheduler (diffusers v0.20.2): pseudo numerical methods for diffusion models,
// https://arxiv.org/abs/2202.09778. Runge-Kutta warm-up steps (PRK) unless skip_prk_steps, then linear
// multistep (PLMS). With skip_prk_steps the warm-up evaluates the first timestep twice, so timesteps()
// has num_inference_steps + 1 entries; with PRK it has more (3 * 4 PRK evaluations, then PLMS).
#pragma once

#include <vector>

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

class PNDMScheduler : public Scheduler {
 public:
  explicit PNDMScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override { return 1.0; }
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return "pndm"; }

  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }

 private:
  torch::Tensor step_prk(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample);
  torch::Tensor step_plms(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample);
  torch::Tensor prev_sample(const torch::Tensor& sample, int64_t timestep, int64_t prev_timestep,
                            const torch::Tensor& model_output) const;

  static constexpr int64_t kPndmOrder = 4;
  SchedulerConfig cfg_;
  std::string spacing_;
  BetaSchedule sched_;
  torch::Tensor final_alpha_cumprod_;
  torch::Tensor timesteps_;
  std::vector<int64_t> prk_timesteps_;
  int64_t num_inference_steps_ = 0;
  // Multistep state, reset by set_timesteps.
  int64_t counter_ = 0;
  std::vector<torch::Tensor> ets_;        // past model outputs
  torch::Tensor cur_model_output_;        // PRK running weighted sum (undefined = 0)
  torch::Tensor cur_sample_;              // sample at the start of a PRK / PLMS warm-up step
};

}  // namespace afa::schedulers
