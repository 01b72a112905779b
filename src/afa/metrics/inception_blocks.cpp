#include "afa/metrics/inception_blocks.h"

namespace afa::metrics {

namespace nn = torch::nn;

namespace {

// 3x3 stride-1 average pool over the valid (unpadded) neighbours only.
torch::Tensor avg_pool_excluding_padding(const torch::Tensor& x) {
  return torch::avg_pool2d(x, {3, 3}, {1, 1}, {1, 1}, /*ceil_mode=*/false, /*count_include_pad=*/false);
}

BasicConv2dOptions conv(int64_t in, int64_t out, torch::ExpandingArray<2> kernel) {
  return BasicConv2dOptions(in, out, kernel);
}

}  // namespace

BasicConv2dImpl::BasicConv2dImpl(const BasicConv2dOptions& o) {
  conv = register_module("conv", models::Conv2d(nn::Conv2dOptions(o.in_channels(), o.out_channels(), o.kernel_size())
                                                .stride(o.stride())
                                                .padding(o.padding())
                                                .bias(false)));
  bn = register_module("bn", nn::BatchNorm2d(nn::BatchNorm2dOptions(o.out_channels()).eps(o.eps())));
}

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) {
  auto y = bn(conv(x));
  return y.relu_();  // in place: the BN output is a temporary
}

InceptionAImpl::InceptionAImpl(int64_t in, int64_t pool_features) {
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 64, 1)));
  branch5x5_1 = register_module("branch5x5_1", BasicConv2d(conv(in, 48, 1)));
  branch5x5_2 = register_module("branch5x5_2", BasicConv2d(conv(48, 64, 5).padding(2)));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 64, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(64, 96, 3).padding(1)));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(conv(96, 96, 3).padding(1)));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, pool_features, 1)));
}

torch::Tensor InceptionAImpl::forward(const torch::Tensor& x) {
  auto b1 = branch1x1(x);
  auto b5 = branch5x5_2(branch5x5_1(x));
  auto b3 = branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x)));
  auto bp = branch_pool(avg_pool_excluding_padding(x));
  return torch::cat({b1, b5, b3, bp}, 1);
}

InceptionBImpl::InceptionBImpl(int64_t in) {
  branch3x3 = register_module("branch3x3", BasicConv2d(conv(in, 384, 3).stride(2)));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 64, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(64, 96, 3).padding(1)));
  branch3x3dbl_3 = register_module("branch3x3dbl_3", BasicConv2d(conv(96, 96, 3).stride(2)));
}

torch::Tensor InceptionBImpl::forward(const torch::Tensor& x) {
  auto b3 = branch3x3(x);
  auto b3dbl = branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x)));
  auto bp = torch::max_pool2d(x, {3, 3}, {2, 2});
  return torch::cat({b3, b3dbl, bp}, 1);
}

InceptionCImpl::InceptionCImpl(int64_t in, int64_t c7) {
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 192, 1)));
  branch7x7_1 = register_module("branch7x7_1", BasicConv2d(conv(in, c7, 1)));
  branch7x7_2 = register_module("branch7x7_2", BasicConv2d(conv(c7, c7, {1, 7}).padding({0, 3})));
  branch7x7_3 = register_module("branch7x7_3", BasicConv2d(conv(c7, 192, {7, 1}).padding({3, 0})));
  branch7x7dbl_1 = register_module("branch7x7dbl_1", BasicConv2d(conv(in, c7, 1)));
  branch7x7dbl_2 = register_module("branch7x7dbl_2", BasicConv2d(conv(c7, c7, {7, 1}).padding({3, 0})));
  branch7x7dbl_3 = register_module("branch7x7dbl_3", BasicConv2d(conv(c7, c7, {1, 7}).padding({0, 3})));
  branch7x7dbl_4 = register_module("branch7x7dbl_4", BasicConv2d(conv(c7, c7, {7, 1}).padding({3, 0})));
  branch7x7dbl_5 = register_module("branch7x7dbl_5", BasicConv2d(conv(c7, 192, {1, 7}).padding({0, 3})));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, 192, 1)));
}

torch::Tensor InceptionCImpl::forward(const torch::Tensor& x) {
  auto b1 = branch1x1(x);
  auto b7 = branch7x7_3(branch7x7_2(branch7x7_1(x)));
  auto b7dbl = branch7x7dbl_5(branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x)))));
  auto bp = branch_pool(avg_pool_excluding_padding(x));
  return torch::cat({b1, b7, b7dbl, bp}, 1);
}

InceptionDImpl::InceptionDImpl(int64_t in) {
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(conv(in, 192, 1)));
  branch3x3_2 = register_module("branch3x3_2", BasicConv2d(conv(192, 320, 3).stride(2)));
  branch7x7x3_1 = register_module("branch7x7x3_1", BasicConv2d(conv(in, 192, 1)));
  branch7x7x3_2 = register_module("branch7x7x3_2", BasicConv2d(conv(192, 192, {1, 7}).padding({0, 3})));
  branch7x7x3_3 = register_module("branch7x7x3_3", BasicConv2d(conv(192, 192, {7, 1}).padding({3, 0})));
  branch7x7x3_4 = register_module("branch7x7x3_4", BasicConv2d(conv(192, 192, 3).stride(2)));
}

torch::Tensor InceptionDImpl::forward(const torch::Tensor& x) {
  auto b3 = branch3x3_2(branch3x3_1(x));
  auto b7 = branch7x7x3_4(branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))));
  auto bp = torch::max_pool2d(x, {3, 3}, {2, 2});
  return torch::cat({b3, b7, bp}, 1);
}

InceptionEImpl::InceptionEImpl(int64_t in, InceptionEPool pool) : pool_(pool) {
  branch1x1 = register_module("branch1x1", BasicConv2d(conv(in, 320, 1)));
  branch3x3_1 = register_module("branch3x3_1", BasicConv2d(conv(in, 384, 1)));
  branch3x3_2a = register_module("branch3x3_2a", BasicConv2d(conv(384, 384, {1, 3}).padding({0, 1})));
  branch3x3_2b = register_module("branch3x3_2b", BasicConv2d(conv(384, 384, {3, 1}).padding({1, 0})));
  branch3x3dbl_1 = register_module("branch3x3dbl_1", BasicConv2d(conv(in, 448, 1)));
  branch3x3dbl_2 = register_module("branch3x3dbl_2", BasicConv2d(conv(448, 384, 3).padding(1)));
  branch3x3dbl_3a = register_module("branch3x3dbl_3a", BasicConv2d(conv(384, 384, {1, 3}).padding({0, 1})));
  branch3x3dbl_3b = register_module("branch3x3dbl_3b", BasicConv2d(conv(384, 384, {3, 1}).padding({1, 0})));
  branch_pool = register_module("branch_pool", BasicConv2d(conv(in, 192, 1)));
}

torch::Tensor InceptionEImpl::forward(const torch::Tensor& x) {
  auto b1 = branch1x1(x);
  auto b3 = branch3x3_1(x);
  b3 = torch::cat({branch3x3_2a(b3), branch3x3_2b(b3)}, 1);
  auto b3dbl = branch3x3dbl_2(branch3x3dbl_1(x));
  b3dbl = torch::cat({branch3x3dbl_3a(b3dbl), branch3x3dbl_3b(b3dbl)}, 1);
  auto pooled = pool_ == InceptionEPool::kMax ? torch::max_pool2d(x, {3, 3}, {1, 1}, {1, 1})
                                              : avg_pool_excluding_padding(x);
  auto bp = branch_pool(pooled);
  return torch::cat({b1, b3, b3dbl, bp}, 1);
}

}  // namespace afa::metrics
