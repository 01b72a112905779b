// diffusers' BasicTransformerBlock (layer-norm variant: self-attention, cross-attention, GEGLU feed-forward)
// and Transformer2DModel for continuous inputs (GroupNorm -> proj_in -> blocks -> proj_out, + input).
#pragma once

#include <torch/torch.h>

#include "afa/models/norms.h"

#include <vector>

#include "afa/models/attention.h"

namespace afa::models {

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head, int64_t cross_attention_dim,
                            bool upcast_attention);
  // x: [B, N, dim]; context: [B, M, cross_attention_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

  LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DModelOptions {
  int64_t num_attention_heads = 8;
  int64_t attention_head_dim = 64;
  int64_t in_channels = 0;
  int64_t num_layers = 1;
  int64_t cross_attention_dim = 768;
  int64_t norm_num_groups = 32;
  bool use_linear_projection = false;  // proj_in/proj_out as Linear (SD 2.x) instead of 1x1 Conv (SD 1.x)
  bool upcast_attention = false;
};

class Transformer2DModelImpl : public torch::nn::Module {
 public:
  explicit Transformer2DModelImpl(const Transformer2DModelOptions& o);
  // hidden: [B, C, H, W]; context: [B, M, cross_attention_dim] -> [B, C, H, W].
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context);

  GroupNorm norm{nullptr};
  torch::nn::AnyModule proj_in, proj_out;  // Conv2d 1x1 or Linear
  std::vector<BasicTransformerBlock> blocks;

 private:
  Transformer2DModelOptions opt_;
};
TORCH_MODULE(Transformer2DModel);

}  // namespace afa::models
