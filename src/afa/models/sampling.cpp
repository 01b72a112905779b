#include "afa/models/sampling.h"

#include "afa/util/error.h"

namespace afa::models {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

Downsample2DImpl::Downsample2DImpl(int64_t channels, int64_t out_channels, int64_t padding)
    : channels_(channels), padding_(padding) {
  conv = register_module("conv", models::Conv2d(nn::Conv2dOptions(channels, out_channels, 3).stride(2).padding(padding)));
}

torch::Tensor Downsample2DImpl::forward(const torch::Tensor& x) {
  AFA_CHECK(x.dim() == 4 && x.size(1) == channels_, "Downsample2D: input must be [B, ", channels_,
            ", H, W], got ", x.sizes());
  if (padding_ == 0) return conv(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0));
  return conv(x);
}

Upsample2DImpl::Upsample2DImpl(int64_t channels, int64_t out_channels) : channels_(channels) {
  conv = register_module("conv", models::Conv2d(nn::Conv2dOptions(channels, out_channels, 3).padding(1)));
}

torch::Tensor Upsample2DImpl::forward(const torch::Tensor& x, at::IntArrayRef output_size) {
  AFA_CHECK(x.dim() == 4 && x.size(1) == channels_, "Upsample2D: input must be [B, ", channels_,
            ", H, W], got ", x.sizes());
  AFA_CHECK(output_size.empty() || output_size.size() == 2, "Upsample2D: output size must be {H, W}");
  // Like diffusers: nearest upsampling in float32 for bfloat16 (older kernels lack bf16).
  const auto dtype = x.scalar_type();
  auto h = dtype == torch::kBFloat16 ? x.to(torch::kFloat32) : x;
  if (output_size.empty()) {
    // scale_factor=2.0 (diffusers' call): source index floor(dst * 0.5)
    h = F::interpolate(h, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
  } else {
    AFA_CHECK(output_size[0] > 0 && output_size[1] > 0, "Upsample2D: bad output size ", output_size);
    h = F::interpolate(h, F::InterpolateFuncOptions().size(output_size.vec()).mode(torch::kNearest));
  }
  if (dtype == torch::kBFloat16) h = h.to(dtype);
  return conv(h);
}

}  // namespace afa::models
