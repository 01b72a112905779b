#include "afa/models/resnet.h"

#include "afa/models/inplace.h"
#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;

ResnetBlock2DImpl::ResnetBlock2DImpl(const ResnetBlock2DOptions& o) : opt_(o) {
  if (opt_.out_channels == 0) opt_.out_channels = opt_.in_channels;
  const int64_t in = opt_.in_channels, out = opt_.out_channels;
  AFA_CHECK(in > 0 && in % opt_.groups == 0 && out % opt_.groups == 0, "ResnetBlock2D: channels ", in, " -> ",
            out, " are not multiples of the ", opt_.groups, " norm groups");
  norm1 = register_module("norm1", GroupNorm(nn::GroupNormOptions(opt_.groups, in).eps(opt_.eps)));
  conv1 = register_module("conv1", models::Conv2d(nn::Conv2dOptions(in, out, 3).stride(1).padding(1)));
  if (opt_.temb_channels > 0)
    time_emb_proj = register_module("time_emb_proj", models::Linear(opt_.temb_channels, out));
  norm2 = register_module("norm2", GroupNorm(nn::GroupNormOptions(opt_.groups, out).eps(opt_.eps)));
  conv2 = register_module("conv2", models::Conv2d(nn::Conv2dOptions(out, out, 3).stride(1).padding(1)));
  if (in != out)
    conv_shortcut = register_module("conv_shortcut", models::Conv2d(nn::Conv2dOptions(in, out, 1).stride(1).padding(0)));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& input, const torch::Tensor& temb) {
  using detail::add_tmp;
  using detail::silu_tmp;
  auto h = conv1(silu_tmp(norm1(input)));
  if (time_emb_proj) {
    AFA_CHECK(temb.defined(), "ResnetBlock2D: this block needs a time embedding");
    h = add_tmp(h, time_emb_proj(torch::silu(temb)).unsqueeze(-1).unsqueeze(-1));
  }
  h = conv2(silu_tmp(norm2(h)));
  // diffusers: input + h (addition commutes, so adding into h is the same number)
  auto out = add_tmp(h, conv_shortcut ? conv_shortcut(input) : input);
  if (opt_.output_scale_factor != 1.0) out = out / opt_.output_scale_factor;
  return out;
}

}  // namespace afa::models
