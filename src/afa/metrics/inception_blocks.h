// The building blocks of InceptionV3 as pytorch-fid's FID Inception (and torch-fidelity's copy of it) define
// them: torchvision's BasicConv2d and InceptionA-E, patched to match the TensorFlow graph of
// pt_inception-2015-12-05. Parameter names follow the published checkpoint (branch1x1.conv.weight, ...).
#pragma once

#include <torch/torch.h>

#include "afa/models/layers.h"

namespace afa::metrics {

// conv (no bias) -> BatchNorm (eps 0.001, TensorFlow's) -> ReLU.
struct BasicConv2dOptions {
  BasicConv2dOptions(int64_t in_channels, int64_t out_channels, torch::ExpandingArray<2> kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(torch::ExpandingArray<2>, kernel_size);
  TORCH_ARG(torch::ExpandingArray<2>, stride) = 1;
  TORCH_ARG(torch::ExpandingArray<2>, padding) = 0;
  TORCH_ARG(double, eps) = 0.001;
};

class BasicConv2dImpl : public torch::nn::Module {
 public:
  explicit BasicConv2dImpl(const BasicConv2dOptions& o);
  torch::Tensor forward(const torch::Tensor& x);

  models::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(BasicConv2d);

// 35x35 block (Mixed_5b-d). FIDInceptionA: its pool branch averages without the zero padding
// (count_include_pad=False), as TensorFlow's average pool does.
class InceptionAImpl : public torch::nn::Module {
 public:
  InceptionAImpl(int64_t in_channels, int64_t pool_features);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch1x1{nullptr}, branch5x5_1{nullptr}, branch5x5_2{nullptr}, branch3x3dbl_1{nullptr},
      branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionA);

// Grid reduction 35 -> 17 (Mixed_6a), unpatched.
class InceptionBImpl : public torch::nn::Module {
 public:
  explicit InceptionBImpl(int64_t in_channels);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch3x3{nullptr}, branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3{nullptr};
};
TORCH_MODULE(InceptionB);

// 17x17 block with factorised 7x7 convolutions (Mixed_6b-e). FIDInceptionC: pool without padding.
class InceptionCImpl : public torch::nn::Module {
 public:
  InceptionCImpl(int64_t in_channels, int64_t channels_7x7);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch1x1{nullptr}, branch7x7_1{nullptr}, branch7x7_2{nullptr}, branch7x7_3{nullptr},
      branch7x7dbl_1{nullptr}, branch7x7dbl_2{nullptr}, branch7x7dbl_3{nullptr}, branch7x7dbl_4{nullptr},
      branch7x7dbl_5{nullptr}, branch_pool{nullptr};
};
TORCH_MODULE(InceptionC);

// Grid reduction 17 -> 8 (Mixed_7a), unpatched.
class InceptionDImpl : public torch::nn::Module {
 public:
  explicit InceptionDImpl(int64_t in_channels);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch3x3_1{nullptr}, branch3x3_2{nullptr}, branch7x7x3_1{nullptr}, branch7x7x3_2{nullptr},
      branch7x7x3_3{nullptr}, branch7x7x3_4{nullptr};
};
TORCH_MODULE(InceptionD);

// The pool of an 8x8 block's last branch: FIDInceptionE_1 (Mixed_7b) averages without padding;
// FIDInceptionE_2 (Mixed_7c) max-pools, as the TensorFlow graph does (a quirk of that graph).
enum class InceptionEPool { kAverageExcludingPadding, kMax };

// 8x8 block with expanded filter banks (Mixed_7b, Mixed_7c).
class InceptionEImpl : public torch::nn::Module {
 public:
  InceptionEImpl(int64_t in_channels, InceptionEPool pool);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch1x1{nullptr}, branch3x3_1{nullptr}, branch3x3_2a{nullptr}, branch3x3_2b{nullptr},
      branch3x3dbl_1{nullptr}, branch3x3dbl_2{nullptr}, branch3x3dbl_3a{nullptr}, branch3x3dbl_3b{nullptr},
      branch_pool{nullptr};

 private:
  InceptionEPool pool_;
};
TORCH_MODULE(InceptionE);

}  // namespace afa::metrics
