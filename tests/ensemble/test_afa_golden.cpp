// AFA against the official code (../shared/golden/afa): noise prediction and all 25 attention maps,
// with the perturbed aggregators and with their zero-initialised variant; equivalences between methods.
#include <gtest/gtest.h>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/aggregators.h"
#include "golden.h"
#include "golden_aggregators.h"
#include "tiny_models.h"

namespace afa::test {
namespace {

using ensemble::AfaEnsemble;

struct Trio {
  std::vector<pipeline::StableDiffusion> sds;
  std::vector<models::UNet2DConditionModel> unets() const {
    std::vector<models::UNet2DConditionModel> u;
    for (const auto& s : sds) u.push_back(s.unet);
    return u;
  }
};

const Trio& trio() {
  static Trio t = [] {
    Trio t;
    for (const char* m : {"A", "B", "C"}) t.sds.push_back(load_tiny(m, false));
    return t;
  }();
  return t;
}

std::vector<torch::Tensor> contexts_of(const torch::Tensor& ehs) {
  std::vector<torch::Tensor> c;
  for (int64_t m = 0; m < ehs.size(0); ++m) c.push_back(ehs[m]);
  return c;
}

void check_forward(const std::string& file, ensemble::AggregatorSet set) {
  auto io = io::load_safetensors(golden(file));
  AfaEnsemble afa(trio().unets(), std::move(set));
  ASSERT_TRUE(afa.record_attention_maps(true));
  torch::NoGradGuard ng;
  auto pred = afa.predict(io.at("sample"), io.at("timestep"), contexts_of(io.at("encoder_hidden_states")));
  EXPECT_TRUE(AllClose(pred, io.at("noise_pred"), 2e-5)) << file;
  const auto& maps = afa.attention_maps();
  ASSERT_EQ(maps.maps.size(), 25u);
  for (int k = 0; k < 25; ++k) {
    char key[32];
    std::snprintf(key, sizeof key, "attn_map_%02d", k);
    EXPECT_EQ(maps.stages[k], k);
    EXPECT_TRUE(AllClose(maps.maps[k], io.at(key), 2e-5)) << file << " " << key;
  }
}

TEST(AfaGolden, PerturbedAggregatorsMatchTheOfficialForward) {
  check_forward("afa/forward_perturbed_io.safetensors", perturbed_aggregators());
}

TEST(AfaGolden, ZeroInitAggregatorsMatchTheOfficialForward) {
  check_forward("afa/forward_zero_init_io.safetensors", zero_init_aggregators());
}

TEST(AfaGolden, BaseUNetsMatch) {
  auto io = io::load_safetensors(golden("afa/forward_perturbed_io.safetensors"));
  torch::NoGradGuard ng;
  const char* names[] = {"A", "B", "C"};
  for (int m = 0; m < 3; ++m) {
    models::UNet2DConditionModel u = trio().sds[m].unet;
    auto pred = u->forward(io.at("sample"), io.at("timestep"), io.at("encoder_hidden_states")[m]);
    EXPECT_TRUE(AllClose(pred, io.at(std::string("base_unet_") + names[m] + ".noise_pred"), 2e-5)) << names[m];
  }
}

TEST(AfaGolden, OfficialCheckpointKeepsItsTwoLayerConfig) {
  auto set = perturbed_aggregators();
  ASSERT_EQ(set.aggregators.size(), 25u);
  EXPECT_EQ(set.num_models, 3);
  for (const auto& a : set.aggregators) EXPECT_EQ(a->config().num_layers, 2);
  EXPECT_EQ(set.aggregators[24]->config().in_channels, 4);
}

TEST(AfaEquivalence, ZeroInitAfaEqualsBlockAverage) {
  auto io = io::load_safetensors(golden("afa/forward_perturbed_io.safetensors"));
  torch::NoGradGuard ng;
  AfaEnsemble afa(trio().unets(), zero_init_aggregators());
  ensemble::BlockAverage avg(trio().unets());
  auto ctx = contexts_of(io.at("encoder_hidden_states"));
  auto a = afa.predict(io.at("sample"), io.at("timestep"), ctx);
  auto b = avg.predict(io.at("sample"), io.at("timestep"), ctx);
  // softmax of zeros is exactly 1/3, and sum(x * 1/3) vs mean(x) differ in the last bit of each merged
  // feature; 25 merges carry those roundings through the U-Net (about 10 float32 ulps of the output seen),
  // so the bound is relative: 2e-5 of the output's magnitude (the one failure seen was 1.6e-6 of it).
  EXPECT_TRUE(AllClose(a, b, 2e-5 * b.abs().max().item<double>()));
  EXPECT_GT(max_abs_diff(a, io.at("base_unet_A.noise_pred")), 1e-3);  // it is not one model
}

TEST(AfaEquivalence, NoiseAverageOfCopiesIsTheModel) {
  auto io = io::load_safetensors(golden("afa/forward_perturbed_io.safetensors"));
  torch::NoGradGuard ng;
  models::UNet2DConditionModel a = trio().sds[0].unet;
  ensemble::NoiseAverage avg({a, a, a});
  auto ctx = io.at("encoder_hidden_states")[0];
  auto pred = avg.predict(io.at("sample"), io.at("timestep"), {ctx, ctx, ctx});
  EXPECT_TRUE(AllClose(pred, io.at("base_unet_A.noise_pred"), 2e-5));
  EXPECT_TRUE(AllClose(pred, a->forward(io.at("sample"), io.at("timestep"), ctx), 1e-6));
  // Block averaging of copies is the model too.
  ensemble::BlockAverage bavg({a, a, a});
  EXPECT_TRUE(AllClose(bavg.predict(io.at("sample"), io.at("timestep"), {ctx, ctx, ctx}),
                       io.at("base_unet_A.noise_pred"), 2e-5));
}

}  // namespace
}  // namespace afa::test
