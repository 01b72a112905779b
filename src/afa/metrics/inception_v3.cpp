#include "afa/metrics/inception_v3.h"

#include "afa/io/safetensors.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/util/error.h"

namespace afa::metrics {

namespace {

bool is_batch_counter(const std::string& name) {
  static const std::string suffix = "num_batches_tracked";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

torch::Tensor spatial_mean(const torch::Tensor& x) { return torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1); }

}  // namespace

InceptionV3Impl::InceptionV3Impl(const InceptionV3Options& o) {
  Conv2d_1a_3x3 = register_module("Conv2d_1a_3x3", BasicConv2d(BasicConv2dOptions(3, 32, 3).stride(2)));
  Conv2d_2a_3x3 = register_module("Conv2d_2a_3x3", BasicConv2d(BasicConv2dOptions(32, 32, 3)));
  Conv2d_2b_3x3 = register_module("Conv2d_2b_3x3", BasicConv2d(BasicConv2dOptions(32, 64, 3).padding(1)));
  Conv2d_3b_1x1 = register_module("Conv2d_3b_1x1", BasicConv2d(BasicConv2dOptions(64, 80, 1)));
  Conv2d_4a_3x3 = register_module("Conv2d_4a_3x3", BasicConv2d(BasicConv2dOptions(80, 192, 3)));
  Mixed_5b = register_module("Mixed_5b", InceptionA(192, 32));
  Mixed_5c = register_module("Mixed_5c", InceptionA(256, 64));
  Mixed_5d = register_module("Mixed_5d", InceptionA(288, 64));
  Mixed_6a = register_module("Mixed_6a", InceptionB(288));
  Mixed_6b = register_module("Mixed_6b", InceptionC(768, 128));
  Mixed_6c = register_module("Mixed_6c", InceptionC(768, 160));
  Mixed_6d = register_module("Mixed_6d", InceptionC(768, 160));
  Mixed_6e = register_module("Mixed_6e", InceptionC(768, 192));
  Mixed_7a = register_module("Mixed_7a", InceptionD(768));
  Mixed_7b = register_module("Mixed_7b", InceptionE(1280, InceptionEPool::kAverageExcludingPadding));
  Mixed_7c = register_module("Mixed_7c", InceptionE(2048, InceptionEPool::kMax));
  fc = register_module("fc", models::Linear(2048, o.num_classes()));
  eval();  // an evaluation network: BatchNorm must use the running statistics, never batch statistics
}

InceptionFeatures InceptionV3Impl::features(const torch::Tensor& input) {
  AFA_CHECK(input.dim() == 4 && input.size(1) == 3, "InceptionV3: expected input [N, 3, H, W], got ", input.sizes());
  InceptionFeatures f;
  auto x = Conv2d_2b_3x3(Conv2d_2a_3x3(Conv2d_1a_3x3(input)));
  x = torch::max_pool2d(x, {3, 3}, {2, 2});
  f.block0_mean = spatial_mean(x);
  x = Conv2d_4a_3x3(Conv2d_3b_1x1(x));
  x = torch::max_pool2d(x, {3, 3}, {2, 2});
  f.block1_mean = spatial_mean(x);
  x = Mixed_5d(Mixed_5c(Mixed_5b(x)));
  x = Mixed_6e(Mixed_6d(Mixed_6c(Mixed_6b(Mixed_6a(x)))));
  f.block2_mean = spatial_mean(x);
  x = Mixed_7c(Mixed_7b(Mixed_7a(x)));
  f.pool3 = spatial_mean(x);
  // torch-fidelity: x.mm(fc.weight.T), then + fc.bias (the same sum as fc(x), kept apart for IS).
  f.logits_unbiased = f.pool3.mm(fc->weight.t());
  f.logits = f.logits_unbiased + fc->bias.unsqueeze(0);
  return f;
}

torch::Tensor InceptionV3Impl::fid_features(const torch::Tensor& images01) {
  return features(fid_inception_input(images01)).pool3;
}

InceptionFeatures InceptionV3Impl::fidelity_features(const torch::Tensor& images_u8) {
  return features(fidelity_inception_input(images_u8));
}

void load_inception_weights(InceptionV3& model, const io::StateDict& weights, const std::string& source) {
  io::StateDict sd;
  for (const auto& [name, t] : weights)
    if (!is_batch_counter(name)) sd.emplace(name, t);
  // The model's own counters stand in for the file's, so that the strict loader checks everything else.
  for (const auto& b : model->named_buffers(/*recurse=*/true))
    if (is_batch_counter(b.key())) sd[b.key()] = b.value();
  io::load_state_dict(*model, sd, source);
}

InceptionV3 load_fid_inception(const std::string& safetensors_path, const torch::Device& device) {
  auto model = models::build_for_loading<InceptionV3>();
  load_inception_weights(model, io::load_safetensors(safetensors_path), safetensors_path);
  model->eval();
  model->to(device);
  return model;
}

}  // namespace afa::metrics
