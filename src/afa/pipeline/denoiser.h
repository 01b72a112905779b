// Everything that turns (latents, t, text) into a noise prediction is a Denoiser: one U-Net, the AFA
// ensemble, averages, MagicFusion. The sampling loop and training know only this interface.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "afa/models/unet_2d_condition.h"

namespace afa::pipeline {

// Per-model weight maps of the last prediction (paper Fig. 6): maps[i] is [B, N, h, w] for U-Net stage
// stages[i], batch rows as the prediction's (uncond rows first under CFG).
struct AttentionMaps {
  std::vector<int64_t> stages;
  std::vector<torch::Tensor> maps;
  bool empty() const { return maps.empty(); }
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  // latents [B, 4, h, w] (float32, already scaled by the scheduler), timestep 0-d, contexts: one
  // [B, 77, D] tensor per model (its own text encoder's states). Returns the noise prediction, float32.
  virtual torch::Tensor predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                                const std::vector<torch::Tensor>& contexts) = 0;
  // The noise the sampler steps with. With guidance (cfg_scale > 1) `latents` holds the unconditional
  // half then the conditional half, as do the contexts, and the result has half the batch. Methods that
  // need both halves (MagicFusion) override this; the rest guide their one prediction.
  virtual torch::Tensor guided(const torch::Tensor& latents, const torch::Tensor& timestep,
                               const std::vector<torch::Tensor>& contexts, double cfg_scale) {
    auto noise = predict(latents, timestep, contexts);
    return cfg_scale > 1.0 ? classifier_free_guidance(noise, cfg_scale) : noise;
  }
  // ε_uncond + s·(ε_cond − ε_uncond) of a [2B, ...] prediction (uncond rows first).
  static torch::Tensor classifier_free_guidance(const torch::Tensor& noise, double cfg_scale) {
    auto parts = noise.chunk(2);
    return parts[0] + cfg_scale * (parts[1] - parts[0]);
  }
  // Attention maps: a method that computes them (AFA) keeps those of its last prediction while recording
  // is on. Returns false when the method has none.
  virtual bool record_attention_maps(bool on) { return false; }
  virtual const AttentionMaps& attention_maps() const {
    static const AttentionMaps none;
    return none;
  }
  // Number of models (= contexts expected).
  virtual size_t num_models() const = 0;
  virtual std::string name() const = 0;
};

// The plain model: one U-Net forward.
class SingleUNet : public Denoiser {
 public:
  explicit SingleUNet(models::UNet2DConditionModel unet) : unet_(std::move(unet)) {}
  torch::Tensor predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                        const std::vector<torch::Tensor>& contexts) override {
    auto x = latents.to(unet_->device(), unet_->dtype());
    return unet_->forward(x, timestep, contexts.at(0)).to(torch::kFloat32);
  }
  size_t num_models() const override { return 1; }
  std::string name() const override { return "single"; }

 private:
  models::UNet2DConditionModel unet_;
};

}  // namespace afa::pipeline
