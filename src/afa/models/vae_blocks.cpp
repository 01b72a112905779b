#include "afa/models/vae_blocks.h"

namespace afa::models {

namespace nn = torch::nn;

namespace {

constexpr double kVaeEps = 1e-6;  // diffusers' Encoder/Decoder pass resnet_eps=1e-6 everywhere

ResnetBlock2D vae_resnet(int64_t in, int64_t out, int64_t groups) {
  ResnetBlock2DOptions o;
  o.in_channels = in;
  o.out_channels = out;
  o.temb_channels = 0;
  o.groups = groups;
  o.eps = kVaeEps;
  return ResnetBlock2D(o);
}

}  // namespace

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                                               int64_t groups, bool add_downsample) {
  auto list = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < num_layers; ++j) {
    resnets.push_back(vae_resnet(j == 0 ? in_channels : out_channels, out_channels, groups));
    list->push_back(resnets.back());
  }
  if (add_downsample) {
    downsampler = Downsample2D(out_channels, out_channels, /*padding=*/0);
    register_module("downsamplers", nn::ModuleList(downsampler));
  }
}

torch::Tensor DownEncoderBlock2DImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& r : resnets) h = r->forward(h);
  if (!downsampler.is_empty()) h = downsampler->forward(h);
  return h;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels, int64_t num_layers,
                                           int64_t groups, bool add_upsample) {
  auto list = register_module("resnets", nn::ModuleList());
  for (int64_t j = 0; j < num_layers; ++j) {
    resnets.push_back(vae_resnet(j == 0 ? in_channels : out_channels, out_channels, groups));
    list->push_back(resnets.back());
  }
  if (add_upsample) {
    upsampler = Upsample2D(out_channels, out_channels);
    register_module("upsamplers", nn::ModuleList(upsampler));
  }
}

torch::Tensor UpDecoderBlock2DImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x;
  for (auto& r : resnets) h = r->forward(h);
  if (!upsampler.is_empty()) h = upsampler->forward(h);
  return h;
}

UNetMidBlock2DImpl::UNetMidBlock2DImpl(int64_t channels, int64_t groups) {
  auto rlist = register_module("resnets", nn::ModuleList());
  auto alist = register_module("attentions", nn::ModuleList());
  resnets.push_back(vae_resnet(channels, channels, groups));
  rlist->push_back(resnets.back());
  AttentionOptions a;
  a.query_dim = channels;
  a.heads = 1;  // diffusers: heads = in_channels // attention_head_dim with attention_head_dim = in_channels
  a.dim_head = channels;
  a.bias = true;
  a.upcast_softmax = true;
  a.residual_connection = true;
  a.norm_num_groups = groups;
  a.eps = kVaeEps;
  attentions.push_back(Attention(a));
  alist->push_back(attentions.back());
  resnets.push_back(vae_resnet(channels, channels, groups));
  rlist->push_back(resnets.back());
}

torch::Tensor UNetMidBlock2DImpl::forward(const torch::Tensor& x) {
  auto h = resnets[0]->forward(x);
  for (size_t i = 0; i < attentions.size(); ++i) {
    h = attentions[i]->forward(h);
    h = resnets[i + 1]->forward(h);
  }
  return h;
}

}  // namespace afa::models
