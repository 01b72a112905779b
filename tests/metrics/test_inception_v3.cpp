// pytorch-fid's FID Inception and torch-fidelity's feature extractor against the goldens (case 3): the
// full-size network with formula weights on img_a and img_b (61x83), both preprocessing paths.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include <iostream>
#include <set>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/inception_preprocess.h"
#include "afa/metrics/inception_v3.h"
#include "formula_weights.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

const nlohmann::json& inception_keys() {
  static const nlohmann::json j = read_json(metrics_golden("inception/inception_keys.json"));
  return j;
}

// Generated once per test program (about 24M values), kept in memory only.
const io::StateDict& inception_formula_weights() {
  static const io::StateDict sd = formula_weights(inception_keys()["keys"], std::sqrt(24.0));
  return sd;
}

// img_a, img_b as uint8 [2, 3, 61, 83].
torch::Tensor test_images() {
  afa::io::SafeTensorsFile f(metrics_golden("images.safetensors"));
  return torch::stack({f.get("img_a"), f.get("img_b")}).permute({0, 3, 1, 2}).contiguous();
}

const afa::io::SafeTensorsFile& io_golden() {
  static const afa::io::SafeTensorsFile f(metrics_golden("inception/inception_io.safetensors"));
  return f;
}

// Per image and channel float64 sums of a float32 [N, 3, H, W] tensor, as the goldens store them.
torch::Tensor channel_sums(const torch::Tensor& x) { return x.to(torch::kFloat64).sum({2, 3}); }

TEST(FormulaWeights, WorkedExamplesAreExact) {
  for (const char* which : {"worked_example", "worked_example_bias", "worked_example_bn_weight"}) {
    const auto& w = inception_keys()[which];
    SCOPED_TRACE(w["tensor"].get<std::string>());
    const int64_t k = w["k"];
    const auto [a, s] = formula_a_s(w["kind"], w["shape"].get<std::vector<int64_t>>(), std::sqrt(24.0));
    EXPECT_EQ(a, w["a"].get<double>());
    EXPECT_EQ(s, w["s"].get<double>());
    for (const auto& v : w["values"]) {
      const int64_t i = v["i"];
      EXPECT_EQ(formula_hash_before_mix(k, i), v["h_before_mix"].get<uint32_t>());
      EXPECT_EQ(fmix32(formula_hash_before_mix(k, i)), v["h"].get<uint32_t>());
      EXPECT_EQ(formula_u(k, i), v["u"].get<double>());
      EXPECT_EQ(a + s * formula_u(k, i), v["a_plus_s_u_float64"].get<double>());
      EXPECT_EQ(double(formula_value(k, i, a, s)), v["value"].get<double>());
    }
  }
}

TEST(FormulaWeights, EveryKeyMatchesItsFirstValuesAndSum) {
  const auto& keys = inception_keys()["keys"];
  ASSERT_EQ(keys.size(), 472u);
  EXPECT_EQ(std::sqrt(24.0), inception_keys()["gain"].get<double>());
  const auto& sd = inception_formula_weights();
  int64_t values = 0;
  int64_t k = 0;
  for (const auto& e : keys) {
    const std::string name = e["name"];
    SCOPED_TRACE(name);
    EXPECT_EQ(e["k"].get<int64_t>(), k++);  // the list is sorted, so k is the position
    const auto [a, s] = formula_a_s(e["kind"], e["shape"].get<std::vector<int64_t>>(), std::sqrt(24.0));
    EXPECT_EQ(a, e["a"].get<double>());
    EXPECT_EQ(s, e["s"].get<double>());
    const auto& t = sd.at(name);
    values += t.numel();
    const auto flat = t.flatten();
    for (int64_t i = 0; i < 3 && i < t.numel(); ++i) EXPECT_EQ(double(flat[i].item<float>()), e["first3"][i].get<double>());
    const double sum = t.to(torch::kFloat64).sum().item<double>();
    EXPECT_NEAR(sum, e["sum"].get<double>(), 1e-9 * std::max(1.0, e["sum_abs"].get<double>()));
  }
  EXPECT_EQ(values, inception_keys()["n_values"].get<int64_t>());
}

TEST(InceptionPreprocess, PytorchFidPathMatchesGolden) {
  const auto& g = io_golden();
  const auto images = test_images();
  ASSERT_TRUE(torch::equal(images, g.get("torch_fidelity.input_uint8_nchw")));
  const auto x01 = uint8_to_float01(images);
  EXPECT_TRUE(torch::equal(x01, g.get("pytorch_fid.input_float01")));  // x / 255 in float32, exactly
  const auto x = fid_inception_input(x01);
  ASSERT_EQ(x.sizes(), torch::IntArrayRef({2, 3, 299, 299}));
  EXPECT_TRUE(AllClose(x.slice(0, 0, 1).slice(2, 0, 32), g.get("pytorch_fid.img0_resized_normalized_299.rows_0_32"), 1e-5));
  EXPECT_TRUE(AllClose(x.slice(0, 0, 1).slice(2, 267, 299), g.get("pytorch_fid.img0_resized_normalized_299.rows_267_299"), 1e-5));
  // Sums of 89401 values each: 1e-5 per value at most.
  EXPECT_TRUE(AllClose(channel_sums(x), g.get("pytorch_fid.resized_normalized_299.sum_per_image_channel"), 1e-5 * 299 * 299));
  std::cout << "[ golden   ] pytorch-fid input: max |diff| rows 0-31 "
            << max_abs_diff(x.slice(0, 0, 1).slice(2, 0, 32), g.get("pytorch_fid.img0_resized_normalized_299.rows_0_32"))
            << ", rows 267-298 "
            << max_abs_diff(x.slice(0, 0, 1).slice(2, 267, 299), g.get("pytorch_fid.img0_resized_normalized_299.rows_267_299"))
            << ", channel sums " << max_abs_diff(channel_sums(x), g.get("pytorch_fid.resized_normalized_299.sum_per_image_channel"))
            << "\n";
}

TEST(InceptionPreprocess, TorchFidelityPathMatchesGolden) {
  const auto& g = io_golden();
  const auto x = fidelity_inception_input(test_images());
  ASSERT_EQ(x.sizes(), torch::IntArrayRef({2, 3, 299, 299}));
  EXPECT_TRUE(AllClose(x.slice(0, 0, 1).slice(2, 0, 32), g.get("torch_fidelity.img0_resized_normalized_299.rows_0_32"), 1e-5));
  EXPECT_TRUE(AllClose(x.slice(0, 0, 1).slice(2, 267, 299), g.get("torch_fidelity.img0_resized_normalized_299.rows_267_299"), 1e-5));
  EXPECT_TRUE(AllClose(channel_sums(x), g.get("torch_fidelity.resized_normalized_299.sum_per_image_channel"), 1e-5 * 299 * 299));
  std::cout << "[ golden   ] torch-fidelity input: max |diff| rows 0-31 "
            << max_abs_diff(x.slice(0, 0, 1).slice(2, 0, 32), g.get("torch_fidelity.img0_resized_normalized_299.rows_0_32"))
            << ", rows 267-298 "
            << max_abs_diff(x.slice(0, 0, 1).slice(2, 267, 299), g.get("torch_fidelity.img0_resized_normalized_299.rows_267_299"))
            << ", channel sums " << max_abs_diff(channel_sums(x), g.get("torch_fidelity.resized_normalized_299.sum_per_image_channel"))
            << "\n";
  // The two resizes really differ (TF1 has no half-pixel offset): the FID path is not a stand-in.
  EXPECT_GT(max_abs_diff(x, fid_inception_input(uint8_to_float01(test_images()))), 0.01);
}

TEST(InceptionPreprocess, Tf1ResizeHasNoHalfPixelOffset) {
  // 2 -> 4 columns: sources 0, 0.5, 1, 1.5 -> clamped to the last column: [a, (a+b)/2, b, b].
  const auto x = torch::tensor({10.0f, 30.0f}).view({1, 1, 1, 2}).expand({1, 3, 1, 2}).contiguous();
  const auto y = resize_bilinear_tf1(x, 1, 4);
  EXPECT_TRUE(torch::equal(y[0][0][0], torch::tensor({10.0f, 20.0f, 30.0f, 30.0f})));
}

TEST(InceptionV3, KeysAreThePublishedCheckpointsAndLoadStrictly) {
  InceptionV3 model;
  std::set<std::string> expected;
  for (const auto& e : inception_keys()["keys"]) expected.insert(e["name"].get<std::string>());
  std::set<std::string> ours;
  for (const auto& p : model->named_parameters()) ours.insert(p.key());
  for (const auto& b : model->named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) ours.insert(b.key());
  EXPECT_EQ(ours, expected);

  // A published file may carry num_batches_tracked: ignored. Anything else wrong is listed with the file.
  TempDir dir("inception_keys");
  const std::string path = (dir.path / "bad.safetensors").string();
  io::StateDict sd{{"Conv2d_1a_3x3.conv.weight", torch::zeros({32, 3, 3, 3})},
                   {"Conv2d_1a_3x3.bn.num_batches_tracked", torch::zeros({}, torch::kInt64)},
                   {"AuxLogits.fc.weight", torch::zeros({1000, 768})}};
  io::save_safetensors(path, sd);
  const auto msg = error_of([&] { load_fid_inception(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown keys: AuxLogits.fc.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing keys"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("num_batches_tracked"), std::string::npos) << msg;
}

// The whole network on both paths, two images at 299.
TEST(InceptionV3, FormulaWeightsMatchGolden) {
  torch::NoGradGuard no_grad;
  InceptionV3 model;
  io::StateDict sd = inception_formula_weights();
  sd.emplace("Mixed_5b.branch1x1.bn.num_batches_tracked", torch::zeros({}, torch::kInt64));  // as in a .pth
  load_inception_weights(model, sd, "formula weights");
  EXPECT_FALSE(model->is_training());  // constructed in evaluation mode
  EXPECT_FALSE(model->Mixed_7c->branch_pool->bn->is_training());
  const auto& g = io_golden();
  const auto images = test_images();

  const auto fid = model->features(fid_inception_input(uint8_to_float01(images)));
  EXPECT_TRUE(AllClose(fid.pool3, g.get("pytorch_fid.pool3"), 2e-5));
  EXPECT_TRUE(AllClose(fid.block0_mean, g.get("pytorch_fid.block0_mean"), 2e-5));
  EXPECT_TRUE(AllClose(fid.block1_mean, g.get("pytorch_fid.block1_mean"), 2e-5));
  EXPECT_TRUE(AllClose(fid.block2_mean, g.get("pytorch_fid.block2_mean"), 2e-5));
  EXPECT_TRUE(AllClose(model->fid_features(uint8_to_float01(images)), fid.pool3, 0.0));

  const auto tf = model->fidelity_features(images);
  EXPECT_TRUE(AllClose(tf.block0_mean, g.get("torch_fidelity.64"), 2e-5));
  EXPECT_TRUE(AllClose(tf.block1_mean, g.get("torch_fidelity.192"), 2e-5));
  EXPECT_TRUE(AllClose(tf.block2_mean, g.get("torch_fidelity.768"), 2e-5));
  EXPECT_TRUE(AllClose(tf.pool3, g.get("torch_fidelity.2048"), 2e-5));
  EXPECT_TRUE(AllClose(tf.logits_unbiased, g.get("torch_fidelity.logits_unbiased"), 2e-5));
  EXPECT_TRUE(AllClose(tf.logits, g.get("torch_fidelity.logits"), 2e-5));
  std::cout << "[ golden   ] max |diff|: FID pool3 " << max_abs_diff(fid.pool3, g.get("pytorch_fid.pool3"))
            << ", fidelity 2048 " << max_abs_diff(tf.pool3, g.get("torch_fidelity.2048")) << ", logits_unbiased "
            << max_abs_diff(tf.logits_unbiased, g.get("torch_fidelity.logits_unbiased")) << ", logits "
            << max_abs_diff(tf.logits, g.get("torch_fidelity.logits")) << " (tolerance 2e-5)\n";
}

}  // namespace
}  // namespace afa::test
