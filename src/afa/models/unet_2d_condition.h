// diffusers' UNet2DConditionModel (v0.20.2), with its forward written as a sequence of stages.
//
// The AFA ensemble runs N U-Nets stage by stage and merges their features between stages, so the forward
// is split at exactly the official AFA aggregation points. For SD 1.5 (4 blocks, 2 layers each) the
// 25 stages are:
//    0       conv_in                                        (pushes a skip)
//    1..11   each down layer (resnet [+ attention]) and each downsampler, 3+3+3+2 (each pushes a skip)
//    12      mid block (resnet, attention, resnet)
//    13..23  each up layer: pop a skip, concat, resnet [+ attention]; a block's last layer also runs its
//            upsampler
//    24      the last up layer of the last up block, then conv_norm_out -> SiLU -> conv_out
// The list is derived from the config, so other layouts work. Parameters carry diffusers' names
// (conv_in, time_embedding.linear_1, down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q, ...), so
// a diffusers unet/diffusion_pytorch_model.safetensors loads by name with afa::io::load_state_dict.
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"
#include "afa/models/norms.h"

#include <string>
#include <vector>

#include "afa/models/embeddings.h"
#include "afa/models/unet_blocks.h"
#include "afa/models/unet_config.h"

namespace afa::models {

// What flows between the stages of ONE model.
struct UNetState {
  torch::Tensor temb;                  // time embedding [B, time_embed_dim]
  torch::Tensor context;               // encoder_hidden_states [B, M, cross_attention_dim]
  std::vector<torch::Tensor> skips;    // down-path outputs (diffusers' res_samples), consumed by the up path
};

struct StageInfo {
  std::string name;         // e.g. "conv_in", "down_blocks.0.layers.1", "down_blocks.0.downsamplers.0"
  int64_t out_channels = 0; // channels of the stage's output
  int64_t downscale = 1;    // spatial factor of the output relative to the latent (1, 2, 4, 8)
  bool pushes_skip = false; // the output was pushed onto UNetState::skips (it is skips.back() afterwards)
};

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  explicit UNet2DConditionModelImpl(const UNet2DConditionConfig& config);
  const UNet2DConditionConfig& config() const { return config_; }

  // time_embedding(time_proj(t)). timestep: 0-d or [1] or [batch], any int or float dtype, any device.
  torch::Tensor time_embedding_for(const torch::Tensor& timestep, int64_t batch);
  // The per-model state for one forward: the time embedding and the context on the model's device/dtype.
  UNetState begin(const torch::Tensor& timestep, const torch::Tensor& context, int64_t batch);

  int64_t num_stages() const { return static_cast<int64_t>(info_.size()); }
  const StageInfo& stage_info(int64_t k) const;
  const std::vector<StageInfo>& stages() const { return info_; }
  // Runs stage k on `hidden` (the sample for k = 0, else the previous stage's output), pushing/popping
  // skips on `s`. A pushing stage pushes exactly the tensor it returns; a caller may replace
  // s.skips.back() (same shape) before the next stage, e.g. with an ensemble's merged feature.
  torch::Tensor stage(int64_t k, const torch::Tensor& hidden, UNetState& s);
  // begin + every stage: the noise prediction [B, out_channels, H, W].
  torch::Tensor forward(const torch::Tensor& sample, const torch::Tensor& timestep, const torch::Tensor& context);

  // conv_norm_out -> SiLU -> conv_out (part of the last stage).
  torch::Tensor output_head(const torch::Tensor& h);

  // Activation checkpointing of every stage under grad mode (diffusers' enable_gradient_checkpointing):
  // the backward recomputes each stage instead of keeping its activations. Also for a frozen U-Net in eval
  // mode, as in AFA training, where gradients flow through it to the aggregators.
  bool gradient_checkpointing = false;

  torch::Device device() const { return conv_in->weight.device(); }
  torch::ScalarType dtype() const { return conv_in->weight.scalar_type(); }

  models::Conv2d conv_in{nullptr}, conv_out{nullptr};
  Timesteps time_proj{nullptr};
  TimestepEmbedding time_embedding{nullptr};
  std::vector<DownBlock2D> down_blocks;
  UNetMidBlock2DCrossAttn mid_block{nullptr};
  std::vector<UpBlock2D> up_blocks;
  GroupNorm conv_norm_out{nullptr};

 private:
  enum class StageKind { ConvIn, DownLayer, Downsample, Mid, UpLayer };
  struct StagePlan {
    StageKind kind;
    int64_t block = 0, layer = 0;
    bool upsample_after = false;  // up layer: the block's last layer runs the upsampler
    bool output_head = false;     // up layer: the model's final layer, followed by conv_out
  };
  // Stage k's computation alone (no skip bookkeeping): what a checkpoint recomputes.
  torch::Tensor run_stage(int64_t k, const torch::Tensor& hidden, const torch::Tensor& temb,
                          const torch::Tensor& context, const torch::Tensor& skip, const std::vector<int64_t>& up_size);

  UNet2DConditionConfig config_;
  std::vector<StagePlan> plan_;
  std::vector<StageInfo> info_;
};
TORCH_MODULE(UNet2DConditionModel);

}  // namespace afa::models
