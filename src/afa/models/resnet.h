// diffusers.models.resnet.ResnetBlock2D (pre-norm, time_embedding_norm "default", SiLU, no up/down
// sampling inside): norm1 -> SiLU -> conv1 (+ time_emb_proj(SiLU(temb))) -> norm2 -> SiLU -> conv2,
// plus the input (through the 1x1 conv_shortcut when the channel count changes).
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"
#include "afa/models/norms.h"

namespace afa::models {

struct ResnetBlock2DOptions {
  int64_t in_channels = 0;
  int64_t out_channels = 0;      // 0: same as in_channels
  int64_t temb_channels = 0;     // 0: no time embedding (the VAE's blocks)
  int64_t groups = 32;
  double eps = 1e-6;
  double output_scale_factor = 1.0;
};

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  explicit ResnetBlock2DImpl(const ResnetBlock2DOptions& o);
  // temb: [B, temb_channels], or undefined when the block has no time embedding.
  torch::Tensor forward(const torch::Tensor& input, const torch::Tensor& temb = {});

  int64_t in_channels() const { return opt_.in_channels; }
  int64_t out_channels() const { return opt_.out_channels; }

  GroupNorm norm1{nullptr}, norm2{nullptr};
  models::Conv2d conv1{nullptr}, conv2{nullptr}, conv_shortcut{nullptr};
  models::Linear time_emb_proj{nullptr};

 private:
  ResnetBlock2DOptions opt_;
};
TORCH_MODULE(ResnetBlock2D);

}  // namespace afa::models
