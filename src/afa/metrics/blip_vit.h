// BLIP's image encoder (BLIP vit.py VisionTransformer, timm 0.6 blocks): patch convolution with bias, a
// class token in front, learned positions, pre-LN blocks (exact GELU MLP), a final LayerNorm; the output
// is the whole token sequence [N, 1 + patches, embed_dim], which ImageReward's text encoder cross-attends
// to. Parameter names are the checkpoint's below "blip.visual_encoder." (cls_token, pos_embed,
// patch_embed.proj.*, blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*, norm.*).
#pragma once

#include <torch/torch.h>

#include "afa/metrics/image_reward_config.h"
#include "afa/models/layers.h"

namespace afa::metrics {

// timm's Attention: one qkv projection, softmax((q k^T) * d^-1/2) v, output projection.
class BlipVitAttentionImpl : public torch::nn::Module {
 public:
  BlipVitAttentionImpl(int64_t dim, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x);

  models::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(BlipVitAttention);

class BlipVitMlpImpl : public torch::nn::Module {
 public:
  BlipVitMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x) { return fc2->forward(torch::gelu(fc1->forward(x))); }

  models::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(BlipVitMlp);

class BlipVitBlockImpl : public torch::nn::Module {
 public:
  explicit BlipVitBlockImpl(const BlipVitConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  BlipVitAttention attn{nullptr};
  BlipVitMlp mlp{nullptr};
};
TORCH_MODULE(BlipVitBlock);

class BlipVitImpl : public torch::nn::Module {
 public:
  explicit BlipVitImpl(const BlipVitConfig& cfg);
  // pixel values [N, 3, img_size, img_size] (ClipPreprocess::kTvPil) -> [N, 1 + patches, embed_dim].
  torch::Tensor forward(const torch::Tensor& pixel_values);

  torch::Tensor cls_token, pos_embed;
  models::Conv2d patch_embed_proj{nullptr};  // registered as patch_embed.proj
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};

 private:
  BlipVitConfig cfg_;
};
TORCH_MODULE(BlipVit);

}  // namespace afa::metrics
