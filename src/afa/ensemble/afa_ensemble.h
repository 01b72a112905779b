// AFA: N U-Nets walked stage by stage, the SABW aggregator of each aggregation point merging their
// features (paper Fig. 2; official UNet2DConditionAggregatorModel.forward).
#pragma once

#include "afa/ensemble/aggregators.h"
#include "afa/ensemble/stagewise.h"

namespace afa::ensemble {

class AfaEnsemble : public StagewiseEnsemble {
 public:
  // Throws afa::Error when the aggregators do not fit the U-Nets (`source` names the checkpoint).
  AfaEnsemble(std::vector<models::UNet2DConditionModel> unets, AggregatorSet aggregators,
              const std::string& source = "aggregators");
  std::string name() const override { return "afa"; }
  AggregatorSet& aggregators() { return set_; }
  // Activation checkpointing of every U-Net stage and every aggregator (training memory for compute).
  void set_gradient_checkpointing(bool on);

 protected:
  std::optional<torch::Tensor> merge(int64_t k, const torch::Tensor& stacked, const MergeInputs& in,
                                     torch::Tensor* maps) override;

 private:
  AggregatorSet set_;
  std::vector<int64_t> by_stage_;  // stage -> index into set_.aggregators, or -1
  bool checkpointing_ = false;
};

// Block-wise averaging (ablation): every aggregation point takes the mean of the N features.
// Equal to AFA with zero-initialised aggregators.
class BlockAverage : public StagewiseEnsemble {
 public:
  using StagewiseEnsemble::StagewiseEnsemble;
  std::string name() const override { return "block-avg"; }

 protected:
  std::optional<torch::Tensor> merge(int64_t, const torch::Tensor& stacked, const MergeInputs&,
                                     torch::Tensor*) override {
    return stacked.mean(1);
  }
};

// Noise averaging (baseline): N plain forwards, the mean of the predicted noises.
class NoiseAverage : public pipeline::Denoiser {
 public:
  explicit NoiseAverage(std::vector<models::UNet2DConditionModel> unets);
  torch::Tensor predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                        const std::vector<torch::Tensor>& contexts) override;
  size_t num_models() const override { return unets_.size(); }
  std::string name() const override { return "noise-avg"; }

 private:
  std::vector<models::UNet2DConditionModel> unets_;
};

}  // namespace afa::ensemble
