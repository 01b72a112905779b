// One way from a method name to a Denoiser: load_ensemble + make_denoiser give each method, attention maps
// as an option, and bad combinations fail before any model loads.
#include <gtest/gtest.h>

#include "afa/ensemble/make_denoiser.h"
#include "afa/pipeline/load_ensemble.h"
#include "golden.h"
#include "golden_aggregators.h"
#include "test_util.h"
#include "tiny_models.h"

namespace afa::test {
namespace {

const pipeline::LoadedEnsemble& trio_models() {
  static const pipeline::LoadedEnsemble e = [] {
    pipeline::EnsembleLoadOptions o;
    o.load.config_files = tiny_single_file_configs();
    o.progress = false;
    return pipeline::load_ensemble(
        {golden("pipelines/A.safetensors"), golden("pipelines/B.safetensors"), golden("pipelines/C.safetensors")}, o);
  }();
  return e;
}

TEST(LoadEnsemble, OneVaeATextEncoderPerModelAndNames) {
  const auto& e = trio_models();
  ASSERT_EQ(e.size(), 3u);
  EXPECT_TRUE(e.models[0].vae);
  EXPECT_FALSE(e.models[1].vae);
  EXPECT_FALSE(e.models[2].vae);
  for (const auto& m : e.models) EXPECT_TRUE(m.text_encoder);
  EXPECT_EQ(e.names(), "A + B + C");
  EXPECT_EQ(e.unets().size(), 3u);
  EXPECT_EQ(e.pointers()[2], &e.models[2]);
}

TEST(LoadEnsemble, NamesAMissingPathBeforeLoading) {
  std::string err = error_of([] {
    pipeline::load_ensemble({golden("pipelines/A.safetensors"), "/nonexistent/model.safetensors"});
  });
  EXPECT_NE(err.find("/nonexistent/model.safetensors: no such file or folder (-m/--model)"), std::string::npos) << err;
}

TEST(MakeDenoiser, EveryMethodByName) {
  const auto unets = trio_models().unets();
  for (const std::string m : {"block-avg", "noise-avg", "magicfusion"}) {
    ensemble::MethodOptions o;
    o.method = m;
    EXPECT_EQ(ensemble::make_denoiser(o, unets)->name(), m);
  }
  ensemble::MethodOptions single;
  auto one = ensemble::make_denoiser(single, {unets[0]});
  EXPECT_EQ(one->name(), "single");
  EXPECT_EQ(one->num_models(), 1u);
  ensemble::MethodOptions afa;
  afa.aggregator = golden("afa/aggregators_perturbed");
  auto d = ensemble::make_denoiser(afa, unets);  // the method follows from the aggregator
  EXPECT_EQ(d->name(), "afa");
  EXPECT_EQ(d->num_models(), 3u);
}

TEST(MakeDenoiser, AttentionMapsAreAnOptionOfTheDenoiser) {
  auto io = io::load_safetensors(golden("afa/forward_perturbed_io.safetensors"));
  ensemble::MethodOptions o;
  o.aggregators = perturbed_aggregators();
  o.attention_maps = true;
  auto d = ensemble::make_denoiser(o, trio_models().unets());
  std::vector<torch::Tensor> ctx;
  for (int64_t m = 0; m < 3; ++m) ctx.push_back(io.at("encoder_hidden_states")[m]);
  torch::NoGradGuard ng;
  auto pred = d->predict(io.at("sample"), io.at("timestep"), ctx);
  EXPECT_TRUE(AllClose(pred, io.at("noise_pred"), 2e-5));
  const auto& maps = d->attention_maps();
  ASSERT_EQ(maps.maps.size(), 25u);
  EXPECT_TRUE(AllClose(maps.maps[24], io.at("attn_map_24"), 2e-5));
  // Methods without aggregators have no maps.
  ensemble::MethodOptions avg;
  avg.method = "noise-avg";
  EXPECT_FALSE(ensemble::make_denoiser(avg, trio_models().unets())->record_attention_maps(true));
}

TEST(MakeDenoiser, BadCombinationsNameTheOption) {
  auto err = [](ensemble::MethodOptions o, size_t n, double cfg = 7.5) {
    return error_of([&] { ensemble::prepare_method(o, n, cfg); });
  };
  ensemble::MethodOptions none;
  EXPECT_NE(err(none, 3).find("need --aggregator PATH"), std::string::npos);
  ensemble::MethodOptions bad;
  bad.method = "median";
  EXPECT_NE(err(bad, 3).find("--method must be"), std::string::npos);
  ensemble::MethodOptions mf;
  mf.method = "magicfusion";
  EXPECT_NE(err(mf, 3, 1.0).find("--cfg-scale > 1"), std::string::npos);
  ensemble::MethodOptions avg;
  avg.method = "block-avg";
  EXPECT_NE(err(avg, 1).find("at least two -m models"), std::string::npos);
  avg.aggregator = "x";
  EXPECT_NE(err(avg, 3).find("--aggregator is only used by --method afa"), std::string::npos);
  ensemble::MethodOptions maps;
  maps.method = "noise-avg";
  maps.attention_maps = true;
  EXPECT_NE(err(maps, 3).find("--attn-maps needs the afa method"), std::string::npos);
  ensemble::MethodOptions missing;
  missing.aggregator = "/nonexistent/aggregators";
  EXPECT_NE(err(missing, 3).find("/nonexistent/aggregators"), std::string::npos);
}

}  // namespace
}  // namespace afa::test
