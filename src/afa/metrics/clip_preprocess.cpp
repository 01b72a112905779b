#include "afa/metrics/clip_preprocess.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "afa/util/error.h"

namespace afa::metrics {

namespace {

// OpenAI CLIP's normalisation (CLIPImageProcessor's OPENAI_CLIP_MEAN/STD, open_clip's OPENAI_DATASET_*).
constexpr float kMean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
constexpr float kStd[3] = {0.26862954f, 0.26130258f, 0.27577711f};

// Pillow's fixed point: coefficients carry 22 fractional bits, so that 8-bit values times the sum of the
// weights stay inside int32.
constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic_filter(double x) {  // Pillow's, a = -0.5 (Keys; torch uses -0.75)
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One axis of Pillow's precompute_coeffs + normalize_coeffs_8bpc: for output index o, the inputs
// first[o] .. first[o] + count[o] - 1 weighted by weights[o * ksize + j].
struct Taps {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;
};

Taps pil_taps(int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filterscale = std::max(scale, 1.0);  // widen the kernel only when downscaling
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = int64_t(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(out_size * t.ksize, 0);
  std::vector<double> w(t.ksize);
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = (double(o) + 0.5) * scale;
    // (int) casts truncate toward zero in C, as Pillow does; the clamps come after.
    int64_t xmin = int64_t(center - support + 0.5);
    int64_t xmax = int64_t(center + support + 0.5);
    xmin = std::max<int64_t>(xmin, 0);
    xmax = std::min(xmax, in_size) - xmin;
    double sum = 0.0;
    for (int64_t x = 0; x < xmax; ++x) {
      w[x] = bicubic_filter((double(x + xmin) - center + 0.5) / filterscale);
      sum += w[x];
    }
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = sum != 0.0 ? w[x] / sum : w[x];
      // Round half away from zero into fixed point, as normalize_coeffs_8bpc.
      t.weights[o * t.ksize + x] = int32_t(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    t.first[o] = xmin;
    t.count[o] = xmax;
  }
  return t;
}

uint8_t clip8(int32_t v) {                // Pillow's clip8: shift out the fraction, saturate to 0..255
  const int32_t s = v >> kPrecisionBits;  // arithmetic shift, as in C on the platforms Pillow supports
  return uint8_t(std::min<int32_t>(std::max<int32_t>(s, 0), 255));
}

int32_t dot(const uint8_t* p, int64_t stride, const int32_t* k, int64_t n) {
  int32_t acc = 1 << (kPrecisionBits - 1);  // + 0.5 for rounding
  for (int64_t j = 0; j < n; ++j) acc += int32_t(p[j * stride]) * k[j];
  return acc;
}

void check_image(const torch::Tensor& x, const char* what) {
  AFA_CHECK(x.dim() == 3 && x.size(0) == 3 && x.size(1) > 0 && x.size(2) > 0, what,
            ": expected an RGB image [3, H, W], got ", x.sizes());
  AFA_CHECK(x.scalar_type() == torch::kUInt8, what, ": expected a uint8 image, got ", x.scalar_type());
}

// uint8 [3, H, W] -> float32 in [0, 1], as the path's reference divides.
torch::Tensor to_float01(const torch::Tensor& u8, ClipPreprocess path) {
  if (path == ClipPreprocess::kClipHf)  // numpy: uint8 * (1/255) in float64, then astype(float32)
    return (u8.to(torch::kFloat64) * (1.0 / 255.0)).to(torch::kFloat32);
  return u8.to(torch::kFloat32).div(255);  // torchvision ToTensor: float32 division
}

torch::Tensor normalize(const torch::Tensor& x01) {
  const auto mean = torch::tensor({kMean[0], kMean[1], kMean[2]}, torch::kFloat32).view({3, 1, 1});
  const auto std = torch::tensor({kStd[0], kStd[1], kStd[2]}, torch::kFloat32).view({3, 1, 1});
  return (x01 - mean) / std;
}

// PIL bicubic resize of the short side to `size`, long side int(size * long / short) (transformers'
// get_resize_output_image_size and torchvision's _compute_resized_output_size agree on it).
torch::Tensor resize_short_side(const torch::Tensor& u8, int64_t size) {
  const int64_t h = u8.size(1), w = u8.size(2);
  const int64_t s = std::min(h, w), l = std::max(h, w);
  const int64_t long_side = int64_t(double(size * l) / double(s));  // Python int(size * long / short)
  return h <= w ? pil_resize_bicubic(u8, size, long_side) : pil_resize_bicubic(u8, long_side, size);
}

torch::Tensor hpsv2_resize_pad(const torch::Tensor& x01, int64_t size) {
  const int64_t h = x01.size(1), w = x01.size(2);
  const double scale = double(size) / double(std::max(h, w));
  // Python round(): half to even, which nearbyint does in the default rounding mode.
  const int64_t nh = int64_t(std::nearbyint(double(h) * scale)), nw = int64_t(std::nearbyint(double(w) * scale));
  namespace nnf = torch::nn::functional;
  auto r =
      nnf::interpolate(
          x01.unsqueeze(0),
          nnf::InterpolateFuncOptions().size(std::vector<int64_t>{nh, nw}).mode(torch::kBicubic).align_corners(false))
          .squeeze(0);
  const int64_t ph = size - nh, pw = size - nw;
  return nnf::pad(r, nnf::PadFuncOptions({pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}));
}

}  // namespace

torch::Tensor pil_resize_bicubic(const torch::Tensor& image_u8, int64_t out_h, int64_t out_w) {
  check_image(image_u8, "PIL bicubic resize");
  AFA_CHECK(out_h > 0 && out_w > 0, "PIL bicubic resize: output size must be positive, got ", out_h, "x", out_w);
  const auto in = image_u8.to(torch::kCPU).contiguous();
  const int64_t h = in.size(1), w = in.size(2);
  const Taps tx = pil_taps(w, out_w), ty = pil_taps(h, out_h);

  // Horizontal pass over the rows the vertical pass reads; Pillow skips a pass whose size is unchanged.
  const int64_t row0 = out_h != h ? ty.first[0] : 0;
  const int64_t row1 = out_h != h ? ty.first[out_h - 1] + ty.count[out_h - 1] : h;
  torch::Tensor mid = in.narrow(1, row0, row1 - row0).contiguous();
  if (out_w != w) {
    auto tmp = torch::empty({3, row1 - row0, out_w}, torch::kUInt8);
    const uint8_t* src = in.data_ptr<uint8_t>();
    uint8_t* dst = tmp.data_ptr<uint8_t>();
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = row0; y < row1; ++y)
        for (int64_t x = 0; x < out_w; ++x)
          dst[(c * (row1 - row0) + y - row0) * out_w + x] =
              clip8(dot(src + (c * h + y) * w + tx.first[x], 1, &tx.weights[x * tx.ksize], tx.count[x]));
    mid = tmp;
  }
  if (out_h == h) return mid;
  const int64_t mh = mid.size(1), mw = mid.size(2);
  auto out = torch::empty({3, out_h, mw}, torch::kUInt8);
  const uint8_t* src = mid.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < out_h; ++y)
      for (int64_t x = 0; x < mw; ++x)
        dst[(c * out_h + y) * mw + x] =
            clip8(dot(src + (c * mh + ty.first[y] - row0) * mw + x, mw, &ty.weights[y * ty.ksize], ty.count[y]));
  return out;
}

torch::Tensor clip_preprocess(const torch::Tensor& image_u8, ClipPreprocess path, int64_t size) {
  check_image(image_u8, "CLIP preprocessing");
  AFA_CHECK(size > 0, "CLIP preprocessing: size must be positive, got ", size);
  const auto img = image_u8.to(torch::kCPU);
  if (path == ClipPreprocess::kHpsv2) return normalize(hpsv2_resize_pad(to_float01(img, path), size));
  const auto r = resize_short_side(img, size);
  const int64_t dh = r.size(1) - size, dw = r.size(2) - size;
  int64_t top = dh / 2, left = dw / 2;   // transformers' center_crop: floor division
  if (path == ClipPreprocess::kTvPil) {  // torchvision: int(round(d / 2.0)), half to even
    top = int64_t(std::nearbyint(double(dh) / 2.0));
    left = int64_t(std::nearbyint(double(dw) / 2.0));
  }
  return normalize(to_float01(r.narrow(1, top, size).narrow(2, left, size), path));
}

torch::Tensor clip_preprocess_batch(const torch::Tensor& images_u8, ClipPreprocess path, int64_t size) {
  AFA_CHECK(images_u8.dim() == 4, "CLIP preprocessing: expected images [N, 3, H, W], got ", images_u8.sizes());
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < images_u8.size(0); ++i) out.push_back(clip_preprocess(images_u8[i], path, size));
  return torch::stack(out);
}

}  // namespace afa::metrics
