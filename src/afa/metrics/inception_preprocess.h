// The two ways images reach the Inception network. FID (pytorch-fid) and IS (torch-fidelity) resize and
// normalise differently, and the features differ with it (pool3 by up to ~0.035), so each metric keeps
// its reference's path.
#pragma once

#include <torch/types.h>

namespace afa::metrics {

constexpr int64_t kInceptionSize = 299;

// torchvision's ToTensor on uint8 images: uint8 [N, 3, H, W] -> float32 / 255, in [0, 1].
torch::Tensor uint8_to_float01(const torch::Tensor& images_u8);

// pytorch-fid's InceptionV3 input: float [N, 3, H, W] in [0, 1] -> F.interpolate(size 299, bilinear,
// align_corners=False, no antialiasing) -> 2x - 1. float32 [N, 3, 299, 299].
torch::Tensor fid_inception_input(const torch::Tensor& images01);

// TensorFlow 1.x's resize_bilinear with align_corners=False, as torch-fidelity's
// interpolate_bilinear_2d_like_tensorflow1x ("slow", bit-exact) computes it on float32 [N, C, H, W]:
// source coordinate = float32(dst) * float32(in / out), lo = floor, hi = min(lo + 1, in - 1), lerp along x
// then y. Unlike PyTorch's bilinear there is no half-pixel offset.
torch::Tensor resize_bilinear_tf1(const torch::Tensor& x, int64_t out_h, int64_t out_w);

// torch-fidelity's FeatureExtractorInceptionV3 input: uint8 [N, 3, H, W] -> float32 -> TF1 bilinear to
// 299 -> (x - 128) / 128.
torch::Tensor fidelity_inception_input(const torch::Tensor& images_u8);

}  // namespace afa::metrics
