// The walk every feature-level ensemble shares: N U-Nets run stage by stage (the 25 aggregation points
// of SD 1.5, see models/unet_2d_condition.h); after stage k a method may merge the N outputs into one
// feature that all N U-Nets receive next. A merged feature also replaces each model's skip connection,
// as in the official code. Where a method does not merge, each model keeps its own feature.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "afa/models/unet_2d_condition.h"
#include "afa/pipeline/denoiser.h"

namespace afa::ensemble {

class StagewiseEnsemble : public pipeline::Denoiser {
 public:
  explicit StagewiseEnsemble(std::vector<models::UNet2DConditionModel> unets);

  torch::Tensor predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                        const std::vector<torch::Tensor>& contexts) override;
  size_t num_models() const override { return unets_.size(); }

  // The attention maps of the last predict() (one [B, N, h, w] per merging stage that has maps).
  bool record_attention_maps(bool on) override {
    record_maps_ = on;
    return true;
  }
  const pipeline::AttentionMaps& attention_maps() const override { return last_maps_; }

 protected:
  // Inputs shared by every merge of one predict().
  struct MergeInputs {
    torch::Tensor temb;     // mean of the U-Nets' time embeddings [B, 4*C0]
    torch::Tensor context;  // mean of the N text encoders' states [B, 77, D]
  };
  // Merges stacked features [B, N, C, H, W] of stage k into [B, C, H, W] (and optionally its maps), or
  // returns nullopt to leave the models apart at this stage.
  virtual std::optional<torch::Tensor> merge(int64_t k, const torch::Tensor& stacked, const MergeInputs& in,
                                             torch::Tensor* maps) = 0;

  const std::vector<models::UNet2DConditionModel>& unets() const { return unets_; }

 private:
  std::vector<models::UNet2DConditionModel> unets_;
  bool record_maps_ = false;
  pipeline::AttentionMaps last_maps_;
};

}  // namespace afa::ensemble
