// AFA against the official code (../shared/golden/afa): noise prediction and all 25 attention maps,
// with the perturbed aggregators and with their zero-initialised variant; equivalences between methods.
#include <gtest/gtest.h>

#include "afa/ensemble/afa_ensemble.h"
#include "afa/ensemble/aggregators.h"
#include "golden.h"
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

ensemble::AggregatorSet perturbed() { return ensemble::load_aggregators(golden("afa/aggregators_perturbed")); }

ensemble::AggregatorSet zero_init() {
  auto set = perturbed();
  torch::NoGradGuard ng;
  for (auto& a : set.aggregators) a->conv_out->weight.zero_();
  return set;
}

std::vector<torch::Tensor> contexts_of(const torch::Tensor& ehs) {
  std::vector<torch::Tensor> c;
  for (int64_t m = 0; m < ehs.size(0); ++m) c.push_back(ehs[m]);
  return c;
}

void check_forward(const std::string& file, ensemble::AggregatorSet set) {
  auto io = io::load_safetensors(golden(file));
  AfaEnsemble afa(trio().unets(), std::move(set));
  afa.record_maps = true;
  torch::NoGradGuard ng;
  auto pred = afa.predict(io.at("sample"), io.at("timestep"), contexts_of(io.at("encoder_hidden_states")));
  EXPECT_TRUE(AllClose(pred, io.at("noise_pred"), 2e-5)) << file;
  ASSERT_EQ(afa.last_maps.size(), 25u);
  for (int k = 0; k < 25; ++k) {
    char key[32];
    std::snprintf(key, sizeof key, "attn_map_%02d", k);
    EXPECT_EQ(afa.last_map_stages[k], k);
    EXPECT_TRUE(AllClose(afa.last_maps[k], io.at(key), 2e-5)) << file << " " << key;
  }
}

TEST(AfaGolden, PerturbedAggregatorsMatchTheOfficialForward) {
  check_forward("afa/forward_perturbed_io.safetensors", perturbed());
}

TEST(AfaGolden, ZeroInitAggregatorsMatchTheOfficialForward) {
  check_forward("afa/forward_zero_init_io.safetensors", zero_init());
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
  auto set = perturbed();
  ASSERT_EQ(set.aggregators.size(), 25u);
  EXPECT_EQ(set.num_models, 3);
  for (const auto& a : set.aggregators) EXPECT_EQ(a->config().num_layers, 2);
  EXPECT_EQ(set.aggregators[24]->config().in_channels, 4);
}

TEST(AfaEquivalence, ZeroInitAfaEqualsBlockAverageExactly) {
  auto io = io::load_safetensors(golden("afa/forward_perturbed_io.safetensors"));
  torch::NoGradGuard ng;
  AfaEnsemble afa(trio().unets(), zero_init());
  ensemble::BlockAverage avg(trio().unets());
  auto ctx = contexts_of(io.at("encoder_hidden_states"));
  auto a = afa.predict(io.at("sample"), io.at("timestep"), ctx);
  auto b = avg.predict(io.at("sample"), io.at("timestep"), ctx);
  // softmax of zeros is exactly 1/3, and sum(x * 1/3) vs mean(x) may differ in the last bit only.
  EXPECT_TRUE(AllClose(a, b, 1e-6));
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
