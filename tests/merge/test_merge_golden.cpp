// The two merges of golden/merge (supermerger's weighted and MBW merges of the tiny A and B): every
// merged tensor, and the merged models' text encoder, U-Net and VAE outputs through afa's loaders.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "afa/io/safetensors.h"
#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"
#include "merge_test_util.h"
#include "tiny_models.h"

namespace afa::merge {
namespace {

using afa::test::AllClose;
using afa::test::golden;
using afa::test::tiny_file;
using nlohmann::json;

json recipe() {
  std::ifstream f(golden("merge/recipe.json"));
  return json::parse(f);
}

MergeOptions golden_options(const std::string& which) {
  json r = recipe();
  MergeOptions o;
  o.models = {tiny_file("A"), tiny_file("B")};
  o.dtype = "f32";  // the golden's merged models are float32
  o.hash_inputs = false;
  if (which == "weighted") {
    o.alpha = {r["alpha"].get<double>()};
  } else {
    std::string values;
    for (int i = 1; i < kNumBlocks; ++i) values += (i > 1 ? "," : "") + r["mbw"][kBlockIds[i]].dump();
    o.block_weights = parse_block_weights(values, r["base_alpha"].get<double>());
  }
  return o;
}

class MergeGolden : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { io_ = new std::map<std::string, torch::Tensor>(io::load_safetensors(golden("merge/merge_io.safetensors"))); }
  static void TearDownTestSuite() { delete io_; }
  static const torch::Tensor& io(const std::string& k) { return io_->at(k); }
  static std::map<std::string, torch::Tensor>* io_;
};
std::map<std::string, torch::Tensor>* MergeGolden::io_ = nullptr;

TEST_P(MergeGolden, EveryMergedTensor) {
  const std::string which = GetParam();
  Merger m(golden_options(which));
  auto merged = merge_in_memory(m);
  io::SafeTensorsFile a(tiny_file("A")), b(tiny_file("B"));
  ASSERT_EQ(merged.size(), a.names().size());
  // The golden's sample of two tensors per block.
  size_t checked = 0;
  double worst_golden = 0;
  const std::string prefix = which + ".tensor.";
  for (const auto& [k, t] : *io_) {
    if (k.rfind(prefix, 0) != 0) continue;
    const std::string key = k.substr(prefix.size());
    EXPECT_TRUE(AllClose(merged.at(key), t, 1e-6)) << key;
    worst_golden = std::max(worst_golden, afa::test::max_abs_diff(merged.at(key), t));
    ++checked;
  }
  EXPECT_EQ(checked, 49u);
  // Every key against the formula in float64.
  double worst = 0;
  for (const auto& p : m.plan()) {
    const double alpha = m.alpha_for_block(p.block);
    auto want = a.get(p.key).to(torch::kFloat64) * (1 - alpha) + b.get(p.key).to(torch::kFloat64) * alpha;
    EXPECT_EQ(merged.at(p.key).scalar_type(), torch::kFloat32) << p.key;
    worst = std::max(worst, afa::test::max_abs_diff(merged.at(p.key), want));
  }
  EXPECT_LE(worst, 1e-6);
  afa::test::record_error("max_abs_vs_golden", worst_golden);
  afa::test::record_error("max_abs_vs_f64", worst);
}

TEST_P(MergeGolden, MergedModelOutputs) {
  const std::string which = GetParam();
  afa::test::TempDir tmp("golden_" + which);
  const std::string out = tmp.file("merged.safetensors");
  merge_to_file(Merger(golden_options(which)), out);
  pipeline::LoadOptions lo;
  lo.config_files = afa::test::tiny_single_file_configs();
  auto sd = pipeline::load_stable_diffusion(out, lo);
  torch::NoGradGuard ng;
  torch::Tensor text = sd.text_encoder->forward(io("input.input_ids"));
  EXPECT_TRUE(AllClose(text, io(which + ".text_encoder.last_hidden_state"), 1e-5));
  torch::Tensor noise = sd.unet->forward(io("input.sample"), io("input.timestep"), text);
  EXPECT_TRUE(AllClose(noise, io(which + ".unet.noise_pred"), 2e-5));
  torch::Tensor image = sd.vae->decode(io("input.latent"));
  EXPECT_TRUE(AllClose(image, io(which + ".vae.decode"), 1e-4));
  afa::test::record_error("max_abs_text", afa::test::max_abs_diff(text, io(which + ".text_encoder.last_hidden_state")));
  afa::test::record_error("max_abs_unet", afa::test::max_abs_diff(noise, io(which + ".unet.noise_pred")));
  afa::test::record_error("max_abs_vae", afa::test::max_abs_diff(image, io(which + ".vae.decode")));
}

INSTANTIATE_TEST_SUITE_P(Recipes, MergeGolden, ::testing::Values("weighted", "mbw"));

}  // namespace
}  // namespace afa::merge

#include "afa/merge/diffusers_output.h"

namespace afa::merge {
namespace {

// --format diffusers: the golden merges as diffusers folders, loaded by afa's folder loader.
TEST_P(MergeGolden, MergedFolderOutputs) {
  const std::string which = GetParam();
  afa::test::TempDir tmp("golden_dir_" + which);
  const std::string out = tmp.file("merged");
  merge_to_diffusers(Merger(golden_options(which)), out, afa::test::tiny_single_file_configs(), {}, 1000);
  auto sd = pipeline::load_stable_diffusion(out);
  torch::NoGradGuard ng;
  torch::Tensor text = sd.text_encoder->forward(io("input.input_ids"));
  EXPECT_TRUE(AllClose(text, io(which + ".text_encoder.last_hidden_state"), 1e-5));
  torch::Tensor noise = sd.unet->forward(io("input.sample"), io("input.timestep"), text);
  EXPECT_TRUE(AllClose(noise, io(which + ".unet.noise_pred"), 2e-5));
  EXPECT_TRUE(AllClose(sd.vae->decode(io("input.latent")), io(which + ".vae.decode"), 1e-4));
  // Nothing is left beside it; an existing folder is refused.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path), std::filesystem::directory_iterator()), 1);
  EXPECT_NE(afa::test::error_of([&] { merge_to_diffusers(Merger(golden_options(which)), out); }).find("already exists"),
            std::string::npos);
}

}  // namespace
}  // namespace afa::merge

#include "afa/merge/assign.h"

namespace afa::merge {
namespace {

// The search's trial step: both golden merges written into one set of loaded modules, in turn.
TEST(MergeGoldenInPlace, AssignedMergesMatchTheGoldenOutputs) {
  auto io = io::load_safetensors(golden("merge/merge_io.safetensors"));
  auto sd = afa::test::load_tiny("C");
  for (const std::string which : {"weighted", "mbw"}) {
    assign_merge(sd, Merger(golden_options(which)), afa::test::tiny_single_file_configs());
    torch::NoGradGuard ng;
    torch::Tensor text = sd.text_encoder->forward(io.at("input.input_ids"));
    EXPECT_TRUE(AllClose(text, io.at(which + ".text_encoder.last_hidden_state"), 1e-5)) << which;
    torch::Tensor noise = sd.unet->forward(io.at("input.sample"), io.at("input.timestep"), text);
    EXPECT_TRUE(AllClose(noise, io.at(which + ".unet.noise_pred"), 2e-5)) << which;
    EXPECT_TRUE(AllClose(sd.vae->decode(io.at("input.latent")), io.at(which + ".vae.decode"), 1e-4)) << which;
  }
}

}  // namespace
}  // namespace afa::merge
