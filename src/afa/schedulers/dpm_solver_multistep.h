// DPMSolverMultistepScheduler (diffusers v0.20.2): DPM-Solver / DPM-Solver++ multistep,
// https://arxiv.org/abs/2206.00927 and https://arxiv.org/abs/2211.01095. "DPM++ 2M" is
// algorithm_type dpmsolver++, solver_order 2. The SDE variants draw noise from the step's generator.
#pragma once

#include <vector>

#include "afa/schedulers/scheduler.h"

namespace afa::schedulers {

class DPMSolverMultistepScheduler : public Scheduler {
 public:
  explicit DPMSolverMultistepScheduler(const SchedulerConfig& cfg);

  void set_timesteps(int64_t num_inference_steps) override;
  const torch::Tensor& timesteps() const override { return timesteps_; }
  double init_noise_sigma() const override { return 1.0; }
  torch::Tensor scale_model_input(const torch::Tensor& sample, int64_t step_index) override;
  torch::Tensor step(const torch::Tensor& model_output, int64_t step_index, const torch::Tensor& sample,
                     c10::optional<at::Generator> generator = c10::nullopt) override;
  std::string name() const override { return algorithm_type_ == "dpmsolver++" && order_ == 2 ? "dpm++2m" : "dpm"; }

  const torch::Tensor& alphas_cumprod() const { return sched_.alphas_cumprod; }

 private:
  torch::Tensor convert_model_output(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample) const;
  torch::Tensor first_order_update(const torch::Tensor& model_output, int64_t timestep, int64_t prev_timestep,
                                   const torch::Tensor& sample, const torch::Tensor& noise) const;
  torch::Tensor second_order_update(int64_t s1, int64_t s0, int64_t prev_timestep, const torch::Tensor& sample,
                                    const torch::Tensor& noise) const;
  torch::Tensor third_order_update(int64_t s2, int64_t s1, int64_t s0, int64_t prev_timestep,
                                   const torch::Tensor& sample) const;

  SchedulerConfig cfg_;
  std::string spacing_;
  std::string algorithm_type_, solver_type_;
  int64_t order_;
  BetaSchedule sched_;
  torch::Tensor alpha_t_, sigma_t_, lambda_t_;  // float32 [T]
  torch::Tensor timesteps_;
  // Multistep state, reset by set_timesteps.
  std::vector<torch::Tensor> model_outputs_;  // last `order_` converted outputs, oldest first
  int64_t lower_order_nums_ = 0;
  int64_t next_step_ = 0;
};

}  // namespace afa::schedulers
