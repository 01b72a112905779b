// MagicFusion (Zhao et al., arXiv 2303.13126), Saliency-aware Noise Blending, generalised from two models
// and DDIM to N models and any sampler. Each model predicts its own guided noise; where a model's guidance
// is the most salient, its noise is used:
//   a_m = s·(ε_cond,m − ε_uncond,general)                       guidance against the general model
//   S_m = softmax_HW( mean_C resize(avgpool_4,1,1(|a_m|)) / τ_m )  saliency map, sums to 1 per image
//   ε   = ε_cfg,argmax_m S_m   per latent pixel,   ε_cfg,m = ε_uncond,m + s·(ε_cond,m − ε_uncond,m)
// Fusion runs only on one side of a timestep threshold; on the other side one chosen model's ε_cfg is used.
#pragma once

#include <vector>

#include "afa/pipeline/denoiser.h"

namespace afa::ensemble {

struct MagicFusionOptions {
  int64_t general = 0;               // model whose unconditional noise is the saliency reference
  std::vector<double> temperatures;  // τ_m per model; empty = 1 for every model
  double threshold = 0;              // timestep (0..1000) splitting fused and unfused steps
  bool fuse_above = true;            // fuse where t >= threshold (else where t < threshold)
  int64_t outside = 0;               // model whose guided noise is used where no fusion runs
};

// S_m of one model: guidance [B, C, h, w] -> [B, h, w], each image's map summing to 1.
torch::Tensor magic_fusion_saliency(const torch::Tensor& guidance, double temperature);

class MagicFusion : public pipeline::Denoiser {
 public:
  MagicFusion(std::vector<models::UNet2DConditionModel> unets, MagicFusionOptions options = {});
  // MagicFusion blends guided noises; it has no unguided prediction. Throws afa::Error.
  torch::Tensor predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                        const std::vector<torch::Tensor>& contexts) override;
  torch::Tensor guided(const torch::Tensor& latents, const torch::Tensor& timestep,
                       const std::vector<torch::Tensor>& contexts, double cfg_scale) override;
  size_t num_models() const override { return unets_.size(); }
  std::string name() const override { return "magicfusion"; }

  // Which model each latent pixel took at the last step, [B, h, w] int64 (undefined before any fused step).
  const torch::Tensor& last_choice() const { return last_choice_; }

 private:
  std::vector<models::UNet2DConditionModel> unets_;
  MagicFusionOptions o_;
  torch::Tensor last_choice_;
};

}  // namespace afa::ensemble
