#include "afa/metrics/inception_preprocess.h"

#include <torch/torch.h>

#include "afa/util/error.h"

namespace afa::metrics {

namespace nnf = torch::nn::functional;

namespace {

void check_images(const torch::Tensor& x, const char* what) {
  AFA_CHECK(x.dim() == 4 && x.size(1) == 3 && x.size(2) > 0 && x.size(3) > 0, what,
            ": expected images [N, 3, H, W], got ", x.sizes());
}

// Source positions of one axis: float32(dst) * float32(scale), in float32 as torch-fidelity multiplies.
struct Axis {
  torch::Tensor lo, hi, frac;
};
Axis axis(int64_t in, int64_t out, const torch::TensorOptions& opt) {
  const double scale = double(in) / double(out);
  const auto pos = torch::arange(0, out, 1, opt.dtype(torch::kFloat32)) * torch::tensor(float(scale), opt.dtype(torch::kFloat32));
  const auto lo = pos.to(torch::kLong);  // truncation = floor (non-negative)
  return {lo, (lo + 1).clamp_max(in - 1), pos - lo.to(torch::kFloat32)};
}

}  // namespace

torch::Tensor uint8_to_float01(const torch::Tensor& images_u8) {
  check_images(images_u8, "uint8_to_float01");
  AFA_CHECK(images_u8.scalar_type() == torch::kUInt8, "uint8_to_float01: expected uint8 images, got ",
            images_u8.scalar_type());
  return images_u8.to(torch::kFloat32).div(255);
}

torch::Tensor fid_inception_input(const torch::Tensor& images01) {
  check_images(images01, "FID Inception input");
  AFA_CHECK(images01.is_floating_point(), "FID Inception input: expected float images in [0, 1], got ",
            images01.scalar_type());
  auto x = nnf::interpolate(images01.to(torch::kFloat32), nnf::InterpolateFuncOptions()
                                                             .size(std::vector<int64_t>{kInceptionSize, kInceptionSize})
                                                             .mode(torch::kBilinear)
                                                             .align_corners(false));
  return 2 * x - 1;
}

torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  check_images(x, "resize_bilinear_tf1");
  AFA_INTERNAL_ASSERT(x.scalar_type() == torch::kFloat32 && out_h > 0 && out_w > 0);
  const auto ax = axis(x.size(3), out_w, x.options()), ay = axis(x.size(2), out_h, x.options());
  const auto rows_lo = x.index_select(2, ay.lo), rows_hi = x.index_select(2, ay.hi);
  const auto in_00 = rows_lo.index_select(3, ax.lo), in_01 = rows_lo.index_select(3, ax.hi);
  const auto in_10 = rows_hi.index_select(3, ax.lo), in_11 = rows_hi.index_select(3, ax.hi);
  const auto dx = ax.frac.view({1, 1, 1, out_w}), dy = ay.frac.view({1, 1, out_h, 1});
  const auto in_0 = in_00 + (in_01 - in_00) * dx;
  const auto in_1 = in_10 + (in_11 - in_10) * dx;
  return in_0 + (in_1 - in_0) * dy;
}

torch::Tensor fidelity_inception_input(const torch::Tensor& images_u8) {
  check_images(images_u8, "Inception (torch-fidelity) input");
  AFA_CHECK(images_u8.scalar_type() == torch::kUInt8, "Inception (torch-fidelity) input: expected uint8 images, got ",
            images_u8.scalar_type());
  const auto x = resize_bilinear_tf1(images_u8.to(torch::kFloat32), kInceptionSize, kInceptionSize);
  return (x - 128) / 128;
}

}  // namespace afa::metrics
