// UNet2DConditionModel against diffusers v0.20.2 (golden/modules/unet_io, pipeline A's tiny U-Net), the
// staged forward's structure, and the errors a user can cause.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/util/error.h"
#include "golden.h"

using afa::models::UNet2DConditionConfig;
using afa::models::UNet2DConditionModel;
using afa::models::UNetState;
using afa::test::AllClose;
using afa::test::golden;

namespace {

// AllClose plus a line with the observed difference (the numbers quoted in reports).
::testing::AssertionResult Close(const std::string& what, const torch::Tensor& actual, const torch::Tensor& expected,
                                 double atol) {
  auto r = AllClose(actual, expected, atol);
  std::printf("  [diff] %-28s %s\n", what.c_str(), r.message());
  return r;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j;
  in >> j;
  return j;
}

UNet2DConditionModel load_unet_a() {
  const std::string dir = golden("pipelines/A/unet");
  UNet2DConditionModel unet(UNet2DConditionConfig::from_file(dir + "/config.json"));
  const std::string weights = dir + "/diffusion_pytorch_model.safetensors";
  afa::io::load_state_dict(*unet, afa::io::load_safetensors(weights), weights);
  unet->eval();
  return unet;
}

class UNetGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    unet_ = new UNet2DConditionModel(load_unet_a());
    io_ = new std::map<std::string, torch::Tensor>(afa::io::load_safetensors(golden("modules/unet_io.safetensors")));
  }
  static void TearDownTestSuite() {
    delete unet_;
    delete io_;
  }
  static const torch::Tensor& io(const std::string& k) { return io_->at(k); }
  static UNet2DConditionModel& unet() { return *unet_; }

  static UNet2DConditionModel* unet_;
  static std::map<std::string, torch::Tensor>* io_;
};
UNet2DConditionModel* UNetGolden::unet_ = nullptr;
std::map<std::string, torch::Tensor>* UNetGolden::io_ = nullptr;

}  // namespace

TEST(UNetConfig, ParsesPipelineA) {
  auto c = UNet2DConditionConfig::from_file(golden("pipelines/A/unet/config.json"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 32, 64, 64}));
  EXPECT_EQ(c.num_attention_heads, (std::vector<int64_t>{8, 8, 8, 8}));  // attention_head_dim means heads
  EXPECT_EQ(c.layers_per_block, (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(c.cross_attention_dim, 32);
  EXPECT_EQ(c.norm_num_groups, 32);
  EXPECT_TRUE(c.flip_sin_to_cos);
  EXPECT_EQ(c.freq_shift, 0);
  EXPECT_FALSE(c.use_linear_projection);
  EXPECT_EQ(c.sample_size, 16);
  EXPECT_EQ(c.time_embed_dim(), 128);
}

TEST(UNetConfig, RejectsUnsupportedOptions) {
  auto base = read_json(golden("pipelines/A/unet/config.json"));
  auto expect_error = [&](const std::string& key, const nlohmann::json& value, const std::string& needle) {
    auto j = base;
    j[key] = value;
    try {
      UNet2DConditionConfig::from_json(j, "cfg.json");
      ADD_FAILURE() << key << " = " << value.dump() << " was accepted";
    } catch (const afa::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
    }
  };
  expect_error("class_embed_type", "timestep", "class_embed_type");
  expect_error("addition_embed_type", "text_time", "addition_embed_type");
  expect_error("down_block_types", {"CrossAttnDownBlock2D", "SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"},
               "SimpleCrossAttnDownBlock2D");
  expect_error("up_block_types", {"UpBlock2D"}, "same length");
  expect_error("mid_block_type", "UNetMidBlock2DSimpleCrossAttn", "mid_block_type");
  expect_error("mid_block_type", nullptr, "mid_block_type");
  expect_error("act_fn", "gelu", "act_fn");
  expect_error("attention_head_dim", 5, "attention heads");
  expect_error("attention_head_dim", {8, 8}, "attention_head_dim");
  expect_error("block_out_channels", {32, 48, 64, 64}, "norm_num_groups");
  expect_error("layers_per_block", "two", "layers_per_block");
  expect_error("resnet_time_scale_shift", "scale_shift", "resnet_time_scale_shift");
  expect_error("time_cond_proj_dim", 256, "time_cond_proj_dim");
  // Defaults and list forms are accepted.
  auto j = base;
  j["layers_per_block"] = {2, 2, 2, 2};
  j["attention_head_dim"] = {8, 8, 4, 4};
  j["resnet_out_scale_factor"] = 1;
  EXPECT_NO_THROW(UNet2DConditionConfig::from_json(j));
}

TEST(UNetStages, SD15LayoutIs25AggregationPoints) {
  UNet2DConditionModel unet(UNet2DConditionConfig::from_file(golden("pipelines/A/unet/config.json")));
  ASSERT_EQ(unet->num_stages(), 25);
  // Channels of each aggregation point, as the official AFA code computed them (golden afa_info.json).
  auto info = read_json(golden("afa/afa_info.json"));
  auto agg = info.at("agg_in_channels").get<std::vector<int64_t>>();
  ASSERT_EQ(agg.size(), 25u);
  std::vector<int64_t> downscale{1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 8, 8, 8, 4, 4, 4, 2, 2, 2, 1, 1, 1, 1};
  for (int64_t k = 0; k < 25; ++k) {
    const auto& s = unet->stage_info(k);
    EXPECT_EQ(s.out_channels, agg[k]) << s.name;
    EXPECT_EQ(s.downscale, downscale[k]) << s.name;
    EXPECT_EQ(s.pushes_skip, k <= 11) << s.name;
  }
  EXPECT_EQ(unet->stage_info(0).name, "conv_in");
  EXPECT_EQ(unet->stage_info(3).name, "down_blocks.0.downsamplers.0");
  EXPECT_EQ(unet->stage_info(12).name, "mid_block");
  EXPECT_EQ(unet->stage_info(15).name, "up_blocks.0.layers.2+upsamplers.0");
  EXPECT_EQ(unet->stage_info(24).name, "up_blocks.3.layers.2+conv_out");
  EXPECT_THROW(unet->stage_info(25), afa::Error);

  // Another layout: 3 blocks, 1 layer each, the last down block without attention.
  auto j = read_json(golden("pipelines/A/unet/config.json"));
  j["block_out_channels"] = {32, 64, 64};
  j["down_block_types"] = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"};
  j["up_block_types"] = {"UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  j["layers_per_block"] = 1;
  UNet2DConditionModel small(UNet2DConditionConfig::from_json(j));
  // 1 + (1+1 + 1+1 + 1) + 1 + (2 + 2 + 2) = 13
  EXPECT_EQ(small->num_stages(), 13);
  torch::NoGradGuard ng;
  auto out = small->forward(torch::randn({1, 4, 8, 12}), torch::tensor(10), torch::randn({1, 5, 32}));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 8, 12}));

  // SD 2.x style: per-block head counts, Linear proj_in/proj_out, float32 attention scores.
  j["attention_head_dim"] = {2, 4, 8};
  j["use_linear_projection"] = true;
  j["upcast_attention"] = true;
  j["sample_size"] = {8, 12};
  UNet2DConditionModel linear(UNet2DConditionConfig::from_json(j));
  auto params = linear->named_parameters();
  ASSERT_TRUE(params.contains("down_blocks.0.attentions.0.proj_in.weight"));
  EXPECT_EQ(params["down_blocks.0.attentions.0.proj_in.weight"].dim(), 2);
  EXPECT_EQ(params["up_blocks.2.attentions.0.proj_out.weight"].sizes(), (std::vector<int64_t>{32, 32}));
  auto out2 = linear->forward(torch::randn({2, 4, 8, 12}), torch::tensor({10, 20}), torch::randn({2, 5, 32}));
  EXPECT_EQ(out2.sizes(), (std::vector<int64_t>{2, 4, 8, 12}));
}

TEST_F(UNetGolden, SquareMatchesDiffusers) {
  torch::NoGradGuard ng;
  auto out = unet()->forward(io("sq.sample"), io("sq.timestep"), io("sq.encoder_hidden_states"));
  EXPECT_TRUE(Close("unet sq", out, io("sq.noise_pred"), 2e-5));
}

TEST_F(UNetGolden, NonSquareMatchesDiffusers) {
  torch::NoGradGuard ng;
  auto out = unet()->forward(io("nonsq.sample"), io("nonsq.timestep"), io("nonsq.encoder_hidden_states"));
  EXPECT_TRUE(Close("unet nonsq", out, io("nonsq.noise_pred"), 2e-5));
}

TEST_F(UNetGolden, FloatTimestepMatchesDiffusers) {
  torch::NoGradGuard ng;
  ASSERT_EQ(io("floatt.timestep").scalar_type(), torch::kFloat32);
  auto out = unet()->forward(io("floatt.sample"), io("floatt.timestep"), io("floatt.encoder_hidden_states"));
  EXPECT_TRUE(Close("unet floatt", out, io("floatt.noise_pred"), 2e-5));
}

// diffusers' debug hooks saved each block's output: map them onto the stages.
TEST_F(UNetGolden, IntermediatesMatchDiffusers) {
  torch::NoGradGuard ng;
  const auto& sample = io("sq.sample");
  UNetState s = unet()->begin(io("sq.timestep"), io("sq.encoder_hidden_states"), sample.size(0));
  EXPECT_TRUE(Close("sq.debug.time_embedding", s.temb, io("sq.debug.time_embedding"), 2e-5));
  // stage index whose output is the hidden state after each diffusers block
  const std::map<int64_t, std::string> after{{0, "conv_in"},         {3, "down_blocks.0"}, {6, "down_blocks.1"},
                                             {9, "down_blocks.2"},   {11, "down_blocks.3"}, {12, "mid_block"},
                                             {15, "up_blocks.0"},    {18, "up_blocks.1"},  {21, "up_blocks.2"}};
  torch::Tensor h = sample;
  for (int64_t k = 0; k < 24; ++k) {
    h = unet()->stage(k, h, s);
    auto it = after.find(k);
    if (it != after.end()) {
      EXPECT_TRUE(Close("sq.debug." + it->second, h, io("sq.debug." + it->second), 2e-5));
    }
  }
  // up_blocks.3 is the last stage before conv_norm_out: run its layer by hand.
  ASSERT_EQ(s.skips.size(), 1u);
  auto up3 = unet()->up_blocks[3]->layer(2, h, s.skips.back(), s.temb, s.context);
  EXPECT_TRUE(Close("sq.debug.up_blocks.3", up3, io("sq.debug.up_blocks.3"), 2e-5));
  EXPECT_TRUE(AllClose(unet()->output_head(up3), io("sq.noise_pred"), 2e-5));
}

TEST_F(UNetGolden, StagesEqualForward) {
  torch::NoGradGuard ng;
  const auto& sample = io("sq.sample");
  auto ref = unet()->forward(sample, io("sq.timestep"), io("sq.encoder_hidden_states"));
  UNetState s = unet()->begin(io("sq.timestep"), io("sq.encoder_hidden_states"), sample.size(0));
  torch::Tensor h = sample;
  for (int64_t k = 0; k < unet()->num_stages(); ++k) {
    const size_t before = s.skips.size();
    h = unet()->stage(k, h, s);
    const auto& info = unet()->stage_info(k);
    EXPECT_EQ(h.size(1), info.out_channels) << info.name;
    EXPECT_EQ(sample.size(2) / h.size(2), info.downscale) << info.name;
    if (info.pushes_skip) {
      ASSERT_EQ(s.skips.size(), before + 1) << info.name;
      EXPECT_TRUE(s.skips.back().is_same(h)) << info.name;
      // An ensemble replaces the pushed feature with its merged one: a copy must give the same result.
      s.skips.back() = h.clone();
    }
  }
  EXPECT_TRUE(s.skips.empty());
  EXPECT_TRUE(torch::equal(h, ref));
}

TEST_F(UNetGolden, TimestepForms) {
  torch::NoGradGuard ng;
  auto t0 = unet()->time_embedding_for(torch::tensor(981), 2);
  EXPECT_TRUE(AllClose(t0, io("sq.debug.time_embedding"), 2e-5));
  // [B] and [1] int64, float64 (Euler/LMS schedulers give F64 timesteps) agree.
  EXPECT_TRUE(torch::equal(unet()->time_embedding_for(torch::tensor({981, 981}), 2), t0));
  EXPECT_TRUE(torch::equal(unet()->time_embedding_for(torch::tensor({981}), 2), t0));
  EXPECT_TRUE(torch::equal(unet()->time_embedding_for(torch::tensor(981.0, torch::kFloat64), 2), t0));
  EXPECT_THROW(unet()->time_embedding_for(torch::tensor({1, 2, 3}), 2), afa::Error);
  EXPECT_THROW(unet()->time_embedding_for(torch::ones({2, 1}), 2), afa::Error);
  EXPECT_THROW(unet()->time_embedding_for(torch::tensor(true), 2), afa::Error);
}

// diffusers' forward_upsample_size: latent sizes not divisible by 8 still run (the upsamplers take the
// skip connections' sizes).
TEST_F(UNetGolden, OddLatentSizes) {
  torch::NoGradGuard ng;
  auto ctx = io("nonsq.encoder_hidden_states");
  auto out = unet()->forward(torch::randn({1, 4, 17, 13}), torch::tensor(500), ctx);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 4, 17, 13}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST_F(UNetGolden, UserErrors) {
  torch::NoGradGuard ng;
  auto ctx = io("sq.encoder_hidden_states");  // [2, 77, 32]
  auto t = torch::tensor(10);
  auto expect_error = [](auto&& fn, const std::string& needle) {
    try {
      fn();
      ADD_FAILURE() << "no error (expected '" << needle << "')";
    } catch (const afa::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { unet()->forward(torch::randn({2, 3, 16, 16}), t, ctx); }, "channels");
  expect_error([&] { unet()->forward(torch::randn({2, 4, 16}), t, ctx); }, "[B, C, H, W]");
  expect_error([&] { unet()->forward(torch::randn({1, 4, 16, 16}), t, ctx); }, "batch");
  expect_error([&] { unet()->forward(torch::randn({2, 4, 16, 16}), t, torch::randn({2, 77, 768})); },
               "cross_attention_dim");
  expect_error([&] { unet()->forward(torch::randn({2, 4, 16, 16}), t, torch::randn({2, 32})); },
               "encoder_hidden_states");
  // Stages out of order / mismatched spatial sizes between a hidden state and its skip connection.
  expect_error([&] {
    UNetState s = unet()->begin(t, ctx, 2);
    unet()->stage(13, torch::randn({2, 64, 2, 2}), s);
  }, "no skip connection");
  expect_error([&] {
    UNetState s = unet()->begin(t, ctx, 2);
    auto h = torch::randn({2, 4, 16, 16});
    for (int k = 0; k < 13; ++k) h = unet()->stage(k, h, s);
    unet()->stage(13, torch::randn({2, 64, 3, 3}), s);
  }, "spatial size");
  expect_error([&] {
    UNetState s = unet()->begin(t, ctx, 2);
    unet()->stage(0, torch::randn({2, 4, 16, 16}), s);
    unet()->stage(1, torch::randn({2, 4, 16, 16}), s);
  }, "channels");
  expect_error([&] {
    UNetState s = unet()->begin(t, ctx, 2);
    unet()->stage(25, torch::randn({2, 4, 16, 16}), s);
  }, "out of range");
  expect_error([&] {
    UNetState s;
    unet()->stage(0, torch::randn({2, 4, 16, 16}), s);
  }, "begin");
}

TEST(UNetLoad, WrongConfigForWeightsIsAnError) {
  auto j = read_json(golden("pipelines/A/unet/config.json"));
  j["block_out_channels"] = {32, 64, 64, 64};
  UNet2DConditionModel unet(UNet2DConditionConfig::from_json(j));
  const std::string weights = golden("pipelines/A/unet/diffusion_pytorch_model.safetensors");
  EXPECT_THROW(afa::io::load_state_dict(*unet, afa::io::load_safetensors(weights), weights), afa::Error);
}
