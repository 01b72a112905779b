#include "afa/metrics/blip_vit.h"

#include <cmath>

#include "afa/util/error.h"

namespace afa::metrics {

namespace {

torch::nn::LayerNorm layer_norm(int64_t d, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(eps));
}

// timm's PatchEmbed as a module of its own only to give the convolution its name "patch_embed.proj".
struct PatchEmbedImpl : torch::nn::Module {
  explicit PatchEmbedImpl(models::Conv2d conv) { proj = register_module("proj", std::move(conv)); }
  models::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

}  // namespace

BlipVitAttentionImpl::BlipVitAttentionImpl(int64_t dim, int64_t heads) : heads_(heads) {
  qkv = register_module("qkv", models::Linear(dim, 3 * dim));
  proj = register_module("proj", models::Linear(dim, dim));
}

torch::Tensor BlipVitAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2), d = c / heads_;
  const auto qkv_ = qkv->forward(x).reshape({b, n, 3, heads_, d}).permute({2, 0, 3, 1, 4});
  const auto q = qkv_[0], k = qkv_[1], v = qkv_[2];
  const auto attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * std::pow(double(d), -0.5), -1);
  return proj->forward(torch::matmul(attn, v).transpose(1, 2).reshape({b, n, c}));
}

BlipVitMlpImpl::BlipVitMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", models::Linear(dim, hidden));
  fc2 = register_module("fc2", models::Linear(hidden, dim));
}

BlipVitBlockImpl::BlipVitBlockImpl(const BlipVitConfig& cfg) {
  norm1 = register_module("norm1", layer_norm(cfg.embed_dim, cfg.layer_norm_eps));
  attn = register_module("attn", BlipVitAttention(cfg.embed_dim, cfg.num_heads));
  norm2 = register_module("norm2", layer_norm(cfg.embed_dim, cfg.layer_norm_eps));
  mlp = register_module("mlp", BlipVitMlp(cfg.embed_dim, cfg.mlp_hidden()));
}

torch::Tensor BlipVitBlockImpl::forward(const torch::Tensor& x) {
  const auto h = x + attn->forward(norm1->forward(x));
  return h + mlp->forward(norm2->forward(h));
}

BlipVitImpl::BlipVitImpl(const BlipVitConfig& cfg) : cfg_(cfg) {
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, cfg.embed_dim}));
  pos_embed = register_parameter("pos_embed", torch::zeros({1, cfg.num_patches() + 1, cfg.embed_dim}));
  patch_embed_proj = models::Conv2d(
      torch::nn::Conv2dOptions(3, cfg.embed_dim, cfg.patch_size).stride(cfg.patch_size).bias(true));
  register_module("patch_embed", PatchEmbed(patch_embed_proj));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.depth; ++i) blocks->push_back(BlipVitBlock(cfg));
  norm = register_module("norm", layer_norm(cfg.embed_dim, cfg.layer_norm_eps));
}

torch::Tensor BlipVitImpl::forward(const torch::Tensor& pixel_values) {
  AFA_CHECK(pixel_values.dim() == 4 && pixel_values.size(1) == 3 && pixel_values.size(2) == cfg_.img_size &&
                pixel_values.size(3) == cfg_.img_size,
            "BLIP image encoder: expected pixel values [N, 3, ", cfg_.img_size, ", ", cfg_.img_size, "], got ",
            pixel_values.sizes());
  auto x = patch_embed_proj->forward(pixel_values).flatten(2).transpose(1, 2);  // [N, P, D]
  x = torch::cat({cls_token.expand({x.size(0), 1, x.size(2)}), x}, 1) + pos_embed;
  for (const auto& blk : *blocks) x = blk->as<BlipVitBlock>()->forward(x);
  return norm->forward(x);
}

}  // namespace afa::metrics
