// SABW: the spatial-aware block-wise aggregator of AFA (paper Sec. 3; official `Aggregator`).
//
//   features [B, N, C, H, W] --reshape--> [B, N*C, H, W]
//     -> conv_in (1x1, N*C -> hidden) -> res_block (ResnetBlock2D with the time embedding)
//     -> transformer (Transformer2DModel, cross-attention to the text) -> conv_out (1x1, hidden -> N, no bias,
//        zero-initialised) -> softmax over the N models = one spatial attention map per model
//   aggregated = sum_m map_m * features_m                                        [B, C, H, W]
//
// Parameter names are the official ones (conv_in, res_block.*, transformer.*, conv_out.weight), so its
// aggregator.safetensors files load by name. The ablation variants of the paper are options:
// scalar attention (one weight per model: the map is averaged over H, W before the softmax), no time
// embedding (the ResNet block has none), no text (the transformer's second attention is self-attention).
#pragma once

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <utility>

#include "afa/models/layers.h"
#include "afa/models/resnet.h"
#include "afa/models/transformer_2d.h"

namespace afa::ensemble {

struct SABWConfig {
  // The official config.json keys.
  int64_t in_channels = 0;     // C of the features at this aggregation point
  int64_t hidden_size = 128;   // the paper's / train.py's default
  int64_t num_experts = 0;     // N models
  int64_t num_layers = 1;      // transformer blocks (the official load_init always built 2 for SD 1.5: a bug)
  int64_t num_attn_heads = 8;
  int64_t cross_attn_dim = 768;
  int64_t temb_channels = 1280;
  // Ablations (absent from official files; defaults are the full method).
  bool spatial = true;         // false: "scalar" attention, one weight per model
  bool use_timestep = true;    // false: "no-time"
  bool use_text = true;        // false: "no-text"

  nlohmann::json to_json() const;
  static SABWConfig from_json(const nlohmann::json& j, const std::string& source);
};

class SABWImpl : public torch::nn::Module {
 public:
  explicit SABWImpl(const SABWConfig& config);
  const SABWConfig& config() const { return config_; }

  // features [B, N, C, H, W]; temb [B, temb_channels] (mean of the U-Nets' time embeddings); context
  // [B, M, cross_attn_dim] (mean of the N text encoders' states). Returns (aggregated [B, C, H, W],
  // attention maps [B, N, H, W] — [B, N, 1, 1] for scalar attention).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& features, const torch::Tensor& temb,
                                                  const torch::Tensor& context);

  models::Conv2d conv_in{nullptr}, conv_out{nullptr};
  models::ResnetBlock2D res_block{nullptr};
  models::Transformer2DModel transformer{nullptr};

 private:
  SABWConfig config_;
};
TORCH_MODULE(SABW);

}  // namespace afa::ensemble
