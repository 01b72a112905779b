#include "afa/models/unet_blocks.h"

#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

namespace {

ResnetBlock2D make_resnet(int64_t in, int64_t out, const UNetBlockOptions& o) {
  ResnetBlock2DOptions r;
  r.in_channels = in;
  r.out_channels = out;
  r.temb_channels = o.temb_channels;
  r.groups = o.resnet_groups;
  r.eps = o.resnet_eps;
  r.output_scale_factor = o.output_scale_factor;
  return ResnetBlock2D(r);
}

}  // namespace

Transformer2DModel make_unet_transformer(int64_t channels, const UNetBlockOptions& o) {
  Transformer2DModelOptions t;
  t.num_attention_heads = o.num_attention_heads;
  t.attention_head_dim = channels / o.num_attention_heads;
  t.in_channels = channels;
  t.num_layers = o.transformer_layers;
  t.cross_attention_dim = o.cross_attention_dim;
  t.norm_num_groups = o.resnet_groups;
  t.use_linear_projection = o.use_linear_projection;
  t.upcast_attention = o.upcast_attention;
  return Transformer2DModel(t);
}

// ---- down ----

DownBlock2DImpl::DownBlock2DImpl(int64_t in_channels, int64_t out_channels, bool add_downsample,
                                 int64_t downsample_padding, const UNetBlockOptions& o) {
  auto rlist = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < o.num_layers; ++j) {
    resnets.push_back(make_resnet(j == 0 ? in_channels : out_channels, out_channels, o));
    rlist->push_back(resnets.back());
  }
  if (o.has_cross_attention) {
    auto alist = register_module("attentions", nn::ModuleList());
    for (int64_t j = 0; j < o.num_layers; ++j) {
      attentions.push_back(make_unet_transformer(out_channels, o));
      alist->push_back(attentions.back());
    }
  }
  if (add_downsample) {
    downsampler = Downsample2D(out_channels, out_channels, downsample_padding);
    register_module("downsamplers", nn::ModuleList(downsampler));
  }
}

torch::Tensor DownBlock2DImpl::layer(int64_t j, const torch::Tensor& x, const torch::Tensor& temb,
                                     const torch::Tensor& context) {
  auto h = resnets.at(j)->forward(x, temb);
  if (!attentions.empty()) h = attentions[j]->forward(h, context);
  return h;
}

torch::Tensor DownBlock2DImpl::downsample(const torch::Tensor& x) {
  AFA_CHECK(has_downsampler(), "DownBlock2D: this block has no downsampler");
  return downsampler->forward(x);
}

// ---- mid ----

UNetMidBlock2DCrossAttnImpl::UNetMidBlock2DCrossAttnImpl(int64_t channels, const UNetBlockOptions& o) {
  auto rlist = register_module("resnets", nn::ModuleList());
  auto alist = register_module("attentions", nn::ModuleList());
  for (int i = 0; i < 2; ++i) {
    resnets.push_back(make_resnet(channels, channels, o));
    rlist->push_back(resnets.back());
  }
  attentions.push_back(make_unet_transformer(channels, o));
  alist->push_back(attentions.back());
}

torch::Tensor UNetMidBlock2DCrossAttnImpl::forward(const torch::Tensor& x, const torch::Tensor& temb,
                                                   const torch::Tensor& context) {
  auto h = resnets[0]->forward(x, temb);
  for (size_t i = 0; i < attentions.size(); ++i) {
    h = attentions[i]->forward(h, context);
    h = resnets[i + 1]->forward(h, temb);
  }
  return h;
}

// ---- up ----

UpBlock2DImpl::UpBlock2DImpl(int64_t in_channels, int64_t prev_output_channel, int64_t out_channels,
                             bool add_upsample, const UNetBlockOptions& o) {
  auto rlist = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < o.num_layers; ++j) {
    // diffusers: the last layer's skip comes from the next-lower level (in_channels), the others from this
    // level; the first layer's input is the previous up block's output.
    const int64_t skip = (j == o.num_layers - 1) ? in_channels : out_channels;
    const int64_t resnet_in = (j == 0) ? prev_output_channel : out_channels;
    resnets.push_back(make_resnet(resnet_in + skip, out_channels, o));
    rlist->push_back(resnets.back());
  }
  if (o.has_cross_attention) {
    auto alist = register_module("attentions", nn::ModuleList());
    for (int64_t j = 0; j < o.num_layers; ++j) {
      attentions.push_back(make_unet_transformer(out_channels, o));
      alist->push_back(attentions.back());
    }
  }
  if (add_upsample) {
    upsampler = Upsample2D(out_channels, out_channels);
    register_module("upsamplers", nn::ModuleList(upsampler));
  }
}

torch::Tensor UpBlock2DImpl::layer(int64_t j, const torch::Tensor& x, const torch::Tensor& skip,
                                   const torch::Tensor& temb, const torch::Tensor& context) {
  auto& resnet = resnets.at(j);
  AFA_CHECK(x.dim() == 4 && skip.dim() == 4 && x.size(0) == skip.size(0) && x.size(2) == skip.size(2) &&
                x.size(3) == skip.size(3),
            "U-Net up block: the hidden state ", x.sizes(), " and its skip connection ", skip.sizes(),
            " differ in batch or spatial size");
  AFA_CHECK(x.size(1) + skip.size(1) == resnet->in_channels(), "U-Net up block: hidden (", x.size(1),
            " channels) + skip (", skip.size(1), ") != ", resnet->in_channels(), " expected channels");
  auto h = resnet->forward(torch::cat({x, skip.to(x.scalar_type())}, 1), temb);
  if (!attentions.empty()) h = attentions[j]->forward(h, context);
  return h;
}

torch::Tensor UpBlock2DImpl::upsample(const torch::Tensor& x, at::IntArrayRef output_size) {
  AFA_CHECK(has_upsampler(), "UpBlock2D: this block has no upsampler");
  return upsampler->forward(x, output_size);
}

}  // namespace afa::models
