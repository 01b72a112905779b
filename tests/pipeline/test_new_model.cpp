// New models from configs: what afa init writes loads as a pipeline, is reproducible for a seed, and its
// configs are the ones asked for.
#include <gtest/gtest.h>

#include <filesystem>

#include "afa/io/checkpoint.h"
#include "afa/pipeline/new_model.h"
#include "afa/pipeline/stable_diffusion.h"
#include "golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

namespace fs = std::filesystem;

nlohmann::json tiny_configs() {
  return nlohmann::json::parse(R"({
    "unet": {"block_out_channels": [32, 32, 64, 64], "layers_per_block": 1, "attention_head_dim": 4,
             "cross_attention_dim": 32, "sample_size": 8},
    "vae": {"block_out_channels": [32, 32], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
            "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "layers_per_block": 1},
    "text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2}})");
}

TEST(NewModel, WritesALoadablePipelineReproducibleBySeed) {
  TempDir tmp("new_model");
  const fs::path dir = tmp.path;
  pipeline::NewModelOptions o;
  o.configs = tiny_configs();
  o.tokenizer_dir = golden("pipelines/A/tokenizer");
  o.seed = 7;
  pipeline::create_model_folder((dir / "a").string(), o);
  pipeline::create_model_folder((dir / "b").string(), o);
  o.seed = 8;
  pipeline::create_model_folder((dir / "c").string(), o);

  auto sd = pipeline::load_stable_diffusion((dir / "a").string());
  EXPECT_EQ(sd.unet->config().block_out_channels, (std::vector<int64_t>{32, 32, 64, 64}));
  EXPECT_EQ(sd.unet->config().cross_attention_dim, 32);
  EXPECT_EQ(sd.vae->config().downscale_factor(), 2);
  EXPECT_EQ(sd.text_encoder->config().hidden_size, 32);
  EXPECT_EQ(sd.tokenizer->vocab_size(), 49408u);
  // It runs: one U-Net step on 8x8 latents.
  torch::NoGradGuard ng;
  auto ids = sd.tokenizer->encode_batch({"a red circle"});
  auto eps = sd.unet->forward(torch::randn({1, 4, 8, 8}), torch::tensor(500), sd.text_encoder->forward(ids));
  EXPECT_EQ(eps.sizes(), (std::vector<int64_t>{1, 4, 8, 8}));
  EXPECT_TRUE(torch::isfinite(eps).all().item<bool>());

  auto a = io::load_checkpoint((dir / "a").string()), b = io::load_checkpoint((dir / "b").string()),
       c = io::load_checkpoint((dir / "c").string());
  for (const auto& [name, t] : a.unet.tensors) EXPECT_TRUE(torch::equal(t, b.unet.tensors.at(name))) << name;
  EXPECT_FALSE(torch::equal(a.unet.tensors.at("conv_in.weight"), c.unet.tensors.at("conv_in.weight")));
  EXPECT_FALSE(torch::equal(a.vae.tensors.at("encoder.conv_in.weight"), c.vae.tensors.at("encoder.conv_in.weight")));

  // Bad configs and an existing output are errors that say so.
  o.configs = {{"unet", {{"block_out_channels", {32, 48}}, {"down_block_types", {"CrossAttnDownBlock2D", "Foo"}}}}};
  EXPECT_NE(error_of([&] { pipeline::create_model_folder((dir / "d").string(), o); }), "(no error)");
  o.configs = tiny_configs();
  EXPECT_NE(error_of([&] { pipeline::create_model_folder((dir / "a").string(), o); }).find("exists"), std::string::npos);
}

}  // namespace
}  // namespace afa::test
