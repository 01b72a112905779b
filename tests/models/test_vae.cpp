// AutoencoderKL against diffusers v0.20.2 (golden/modules/vae_io, pipeline A's tiny VAE).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/util/error.h"
#include "golden.h"

using afa::models::AutoencoderKL;
using afa::models::AutoencoderKLConfig;
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

class VaeGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = golden("pipelines/A/vae");
    vae_ = new AutoencoderKL(AutoencoderKLConfig::from_file(dir + "/config.json"));
    const std::string weights = dir + "/diffusion_pytorch_model.safetensors";
    afa::io::load_state_dict(**vae_, afa::io::load_safetensors(weights), weights);
    io_ = new std::map<std::string, torch::Tensor>(afa::io::load_safetensors(golden("modules/vae_io.safetensors")));
  }
  static void TearDownTestSuite() {
    delete vae_;
    delete io_;
  }
  static const torch::Tensor& io(const std::string& k) { return io_->at(k); }
  static AutoencoderKL& vae() { return *vae_; }

  static AutoencoderKL* vae_;
  static std::map<std::string, torch::Tensor>* io_;
};
AutoencoderKL* VaeGolden::vae_ = nullptr;
std::map<std::string, torch::Tensor>* VaeGolden::io_ = nullptr;

}  // namespace

TEST(VaeConfig, ParsesPipelineA) {
  auto c = AutoencoderKLConfig::from_file(golden("pipelines/A/vae/config.json"));
  EXPECT_EQ(c.block_out_channels, (std::vector<int64_t>{32, 32, 32, 64}));
  EXPECT_EQ(c.layers_per_block, 2);
  EXPECT_EQ(c.latent_channels, 4);
  EXPECT_EQ(c.downscale_factor(), 8);
  EXPECT_DOUBLE_EQ(c.scaling_factor, 0.18215);
}

TEST(VaeConfig, RejectsUnsupportedOptions) {
  std::ifstream in(golden("pipelines/A/vae/config.json"));
  nlohmann::json base;
  in >> base;
  auto rejects = [&](const std::string& key, const nlohmann::json& value) {
    auto j = base;
    j[key] = value;
    EXPECT_THROW(AutoencoderKLConfig::from_json(j), afa::Error) << key;
  };
  rejects("_class_name", "AutoencoderTiny");
  rejects("down_block_types", {"DownEncoderBlock2D"});
  rejects("up_block_types", {"UpDecoderBlock2D", "UpDecoderBlock2D", "AttnUpDecoderBlock2D", "UpDecoderBlock2D"});
  rejects("act_fn", "relu");
  rejects("block_out_channels", {32, 32, 48, 64});
  rejects("use_quant_conv", false);
  rejects("scaling_factor", -1);
}

TEST_F(VaeGolden, Decode0MatchesDiffusers) {
  torch::NoGradGuard ng;
  EXPECT_TRUE(Close("vae decode0", vae()->decode(io("decode0.latent")), io("decode0.sample"), 1e-4));
}

TEST_F(VaeGolden, Decode1NonSquareMatchesDiffusers) {
  torch::NoGradGuard ng;
  EXPECT_TRUE(Close("vae decode1", vae()->decode(io("decode1.latent")), io("decode1.sample"), 1e-4));
}

TEST_F(VaeGolden, EncodeMatchesDiffusers) {
  torch::NoGradGuard ng;
  auto d = vae()->encode(io("encode.image"));
  EXPECT_TRUE(Close("vae encode.mean", d.mean, io("encode.mean"), 2e-5));
  EXPECT_TRUE(Close("vae encode.logvar", d.logvar, io("encode.logvar"), 2e-5));
  EXPECT_TRUE(Close("vae encode.std", d.std, io("encode.std"), 2e-5));
  EXPECT_TRUE(AllClose(torch::cat({d.mean, d.logvar}, 1), io("encode.moments"), 2e-5));
  // sample = mean + std * randn(generator)
  auto g1 = at::detail::createCPUGenerator(42);
  auto g2 = at::detail::createCPUGenerator(42);
  auto s = d.sample(g1);
  EXPECT_TRUE(torch::allclose(s, d.mean + d.std * torch::randn(d.mean.sizes(), g2)));
}

TEST_F(VaeGolden, UserErrors) {
  torch::NoGradGuard ng;
  EXPECT_THROW(vae()->decode(torch::zeros({1, 3, 8, 8})), afa::Error);
  EXPECT_THROW(vae()->decode(torch::zeros({4, 8, 8})), afa::Error);
  EXPECT_THROW(vae()->encode(torch::zeros({1, 3, 60, 64})), afa::Error);
  EXPECT_THROW(vae()->encode(torch::zeros({1, 4, 64, 64})), afa::Error);
}
