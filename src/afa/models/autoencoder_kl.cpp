#include "afa/models/autoencoder_kl.h"

#include "afa/models/inplace.h"
#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

namespace {
constexpr double kVaeEps = 1e-6;

models::Conv2d conv3x3(int64_t in, int64_t out) { return models::Conv2d(nn::Conv2dOptions(in, out, 3).padding(1)); }
}  // namespace

EncoderImpl::EncoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t n = c.num_blocks();
  conv_in = register_module("conv_in", conv3x3(c.in_channels, ch[0]));
  auto list = register_module("down_blocks", nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    down_blocks.push_back(DownEncoderBlock2D(i == 0 ? ch[0] : ch[i - 1], ch[i], c.layers_per_block,
                                             c.norm_num_groups, /*add_downsample=*/i != n - 1));
    list->push_back(down_blocks.back());
  }
  mid_block = register_module("mid_block", UNetMidBlock2D(ch[n - 1], c.norm_num_groups));
  conv_norm_out = register_module(
      "conv_norm_out", GroupNorm(nn::GroupNormOptions(c.norm_num_groups, ch[n - 1]).eps(kVaeEps)));
  // double_z: mean and logvar
  conv_out = register_module("conv_out", conv3x3(ch[n - 1], 2 * c.latent_channels));
}

torch::Tensor EncoderImpl::forward(const torch::Tensor& x) {
  auto h = conv_in(x);
  for (auto& b : down_blocks) h = b->forward(h);
  h = mid_block->forward(h);
  return conv_out(detail::silu_tmp(conv_norm_out(h)));
}

DecoderImpl::DecoderImpl(const AutoencoderKLConfig& c) {
  const auto& ch = c.block_out_channels;
  const int64_t n = c.num_blocks();
  conv_in = register_module("conv_in", conv3x3(c.latent_channels, ch[n - 1]));
  mid_block = register_module("mid_block", UNetMidBlock2D(ch[n - 1], c.norm_num_groups));
  auto list = register_module("up_blocks", nn::ModuleList());
  int64_t out = ch[n - 1];
  for (int64_t i = 0; i < n; ++i) {
    const int64_t prev = out;
    out = ch[n - 1 - i];
    up_blocks.push_back(UpDecoderBlock2D(prev, out, c.layers_per_block + 1, c.norm_num_groups,
                                         /*add_upsample=*/i != n - 1));
    list->push_back(up_blocks.back());
  }
  conv_norm_out = register_module("conv_norm_out",
                                  GroupNorm(nn::GroupNormOptions(c.norm_num_groups, ch[0]).eps(kVaeEps)));
  conv_out = register_module("conv_out", conv3x3(ch[0], c.out_channels));
}

torch::Tensor DecoderImpl::forward(const torch::Tensor& z) {
  auto h = conv_in(z);
  h = mid_block->forward(h);
  // diffusers casts to the up blocks' dtype here (they may differ from the mid block's under upcasting).
  if (!up_blocks.empty()) h = h.to(up_blocks[0]->resnets[0]->conv1->weight.scalar_type());
  for (auto& b : up_blocks) h = b->forward(h);
  return conv_out(detail::silu_tmp(conv_norm_out(h)));
}

torch::Tensor DiagonalGaussian::sample(c10::optional<at::Generator> generator) const {
  auto noise = torch::randn(mean.sizes(), generator, mean.options());
  return mean + std * noise;
}

AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& config) : config_(config) {
  config_.validate();
  const int64_t lc = config_.latent_channels;
  encoder = register_module("encoder", Encoder(config_));
  decoder = register_module("decoder", Decoder(config_));
  quant_conv = register_module("quant_conv", models::Conv2d(nn::Conv2dOptions(2 * lc, 2 * lc, 1)));
  post_quant_conv = register_module("post_quant_conv", models::Conv2d(nn::Conv2dOptions(lc, lc, 1)));
}

DiagonalGaussian AutoencoderKLImpl::encode(const torch::Tensor& image) {
  AFA_CHECK(image.defined() && image.dim() == 4 && image.size(1) == config_.in_channels,
            "VAE encode: image must be [B, ", config_.in_channels, ", H, W], got ",
            image.defined() ? image.sizes() : at::IntArrayRef{});
  const int64_t f = config_.downscale_factor();
  AFA_CHECK(image.size(2) % f == 0 && image.size(3) % f == 0 && image.size(2) > 0 && image.size(3) > 0,
            "VAE encode: image size ", image.size(2), "x", image.size(3), " is not a multiple of ", f);
  auto moments = quant_conv(encoder(image.to(device(), dtype())));
  auto parts = moments.chunk(2, 1);
  DiagonalGaussian d;
  d.mean = parts[0].contiguous();
  d.logvar = torch::clamp(parts[1], -30.0, 20.0);
  d.std = torch::exp(0.5 * d.logvar);
  return d;
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& z) {
  AFA_CHECK(z.defined() && z.dim() == 4 && z.size(1) == config_.latent_channels, "VAE decode: latents must be [B, ",
            config_.latent_channels, ", h, w], got ", z.defined() ? z.sizes() : at::IntArrayRef{});
  AFA_CHECK(z.size(2) > 0 && z.size(3) > 0, "VAE decode: empty latents ", z.sizes());
  return decoder(post_quant_conv(z.to(device(), dtype())));
}

}  // namespace afa::models
