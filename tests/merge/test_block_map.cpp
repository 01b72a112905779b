// The MBW block map against supermerger's own (golden/merge/keymap.json), for LDM names and for the
// diffusers names of a folder; block-weight strings and presets.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "afa/io/checkpoint.h"
#include "afa/merge/block_map.h"
#include "afa/merge/block_weights.h"
#include "afa/merge/model_source.h"
#include "merge_test_util.h"

namespace afa::merge {
namespace {

using afa::test::golden;
using nlohmann::json;

json keymap() {
  std::ifstream f(golden("merge/keymap.json"));
  return json::parse(f);
}

TEST(BlockMap, BlockIdsAreSupermergersOrder) {
  json k = keymap();
  ASSERT_EQ(k["BLOCKID"].size(), size_t(kNumBlocks));
  for (int i = 0; i < kNumBlocks; ++i) EXPECT_EQ(k["BLOCKID"][i].get<std::string>(), kBlockIds[i]);
}

TEST(BlockMap, EveryGoldenKeyHasSupermergersBlockAndMergeFlag) {
  json k = keymap();
  std::map<std::string, int> counts;
  ModelSource a(afa::test::tiny_file("A"));
  size_t n = 0;
  for (auto it = k["keys"].begin(); it != k["keys"].end(); ++it) {
    const std::string& key = it.key();
    const std::string want = it.value()["block"];
    EXPECT_EQ(kBlockIds[block_of_ldm_key(key)], want) << key;
    EXPECT_EQ(is_mergeable_key(key), it.value()["merged"].get<bool>()) << key;
    EXPECT_TRUE(a.contains(key)) << key;
    ++counts[want];
    ++n;
  }
  EXPECT_EQ(n, a.keys().size());
  for (auto it = k["count_per_block"].begin(); it != k["count_per_block"].end(); ++it)
    EXPECT_EQ(counts[it.key()], it.value().get<int>()) << it.key();
}

TEST(BlockMap, GoldenMbwAlphaPerKey) {
  json k = keymap();
  std::ifstream rf(golden("merge/recipe.json"));
  json recipe = json::parse(rf);
  std::string values;
  for (int i = 1; i < kNumBlocks; ++i) values += (i > 1 ? "," : "") + recipe["mbw"][kBlockIds[i]].dump();
  BlockWeights w = parse_block_weights(values, recipe["base_alpha"].get<double>());
  for (auto it = k["keys"].begin(); it != k["keys"].end(); ++it)
    EXPECT_DOUBLE_EQ(w.alpha[block_of_ldm_key(it.key())], it.value()["alpha_mbw"].get<double>()) << it.key();
}

TEST(BlockMap, FolderKeysGetTheBlocksOfTheirLdmNames) {
  json k = keymap();
  io::Checkpoint ck = io::load_checkpoint(golden("pipelines/A"));
  size_t n = 0;
  for (io::Component c : {io::Component::UNet, io::Component::VAE, io::Component::TextEncoder}) {
    auto blocks = diffusers_block_map(c, ck.component(c).config);
    for (const auto& e : io::component_params(c, ck.component(c).config)) {
      ASSERT_TRUE(k["keys"].contains(e.ldm)) << e.ldm;
      EXPECT_EQ(kBlockIds[blocks.at(e.diffusers)], k["keys"][e.ldm]["block"].get<std::string>()) << e.diffusers;
      ++n;
    }
  }
  EXPECT_EQ(n, k["keys"].size());
  // A few by hand.
  auto unet = diffusers_block_map(io::Component::UNet, ck.unet.config);
  EXPECT_STREQ(kBlockIds[unet.at("time_embedding.linear_1.weight")], "IN00");
  EXPECT_STREQ(kBlockIds[unet.at("conv_in.weight")], "IN00");
  EXPECT_STREQ(kBlockIds[unet.at("down_blocks.0.resnets.1.conv1.weight")], "IN02");
  EXPECT_STREQ(kBlockIds[unet.at("down_blocks.1.downsamplers.0.conv.weight")], "IN06");
  EXPECT_STREQ(kBlockIds[unet.at("mid_block.attentions.0.proj_in.weight")], "M00");
  EXPECT_STREQ(kBlockIds[unet.at("up_blocks.3.attentions.2.proj_out.weight")], "OUT11");
  EXPECT_STREQ(kBlockIds[unet.at("conv_out.weight")], "OUT11");
}

TEST(BlockMap, BaseEndsConventionMovesTimeEmbedAndOutToBase) {
  const std::string p = io::kLdmUNetPrefix;
  EXPECT_EQ(block_of_ldm_key(p + "time_embed.0.weight", BlockConvention::kBaseEnds), 0);
  EXPECT_EQ(block_of_ldm_key(p + "out.2.bias", BlockConvention::kBaseEnds), 0);
  EXPECT_STREQ(kBlockIds[block_of_ldm_key(p + "input_blocks.0.0.weight", BlockConvention::kBaseEnds)], "IN00");
  EXPECT_STREQ(kBlockIds[block_of_ldm_key(p + "output_blocks.11.1.proj_out.weight", BlockConvention::kBaseEnds)],
               "OUT11");
  EXPECT_EQ(parse_block_convention("base-ends"), BlockConvention::kBaseEnds);
  EXPECT_NE(afa::test::error_of([] { parse_block_convention("comfy"); }).find("comfy"), std::string::npos);
  // Keys outside the U-Net stay BASE whatever their names hold.
  EXPECT_EQ(block_of_ldm_key("first_stage_model.decoder.conv_out.weight"), 0);
  EXPECT_EQ(block_of_ldm_key("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.out_proj.weight"), 0);
}

TEST(BlockWeights, ParsesTwentyFiveOrTwentySixValues) {
  std::string v25;
  for (int i = 0; i < 25; ++i) v25 += (i ? "," : "") + std::to_string(i / 100.0);
  BlockWeights w = parse_block_weights(v25, 0.9);
  EXPECT_DOUBLE_EQ(w.alpha[0], 0.9);
  EXPECT_DOUBLE_EQ(w.alpha[1], 0.0);
  EXPECT_DOUBLE_EQ(w.alpha[25], 0.24);
  BlockWeights w26 = parse_block_weights("0.9, " + v25, std::nullopt);
  EXPECT_EQ(w26.alpha, w.alpha);
  EXPECT_EQ(parse_block_weights(w.to_string(), std::nullopt).alpha, w.alpha);
  using afa::test::error_of;
  EXPECT_NE(error_of([&] { parse_block_weights(v25, std::nullopt); }).find("--base-alpha"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_block_weights("0.9," + v25, 0.5); }).find("--base-alpha"), std::string::npos);
  EXPECT_NE(error_of([] { parse_block_weights("1,2,3", 0.5); }).find("not 3"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_block_weights("x," + v25, std::nullopt); }).find("'x'"), std::string::npos);
}

TEST(BlockWeights, Presets) {
  auto v = block_preset("GRAD_V");
  ASSERT_TRUE(v);
  EXPECT_DOUBLE_EQ((*v)[0], 1.0);
  EXPECT_DOUBLE_EQ((*v)[12], 0.0);
  EXPECT_DOUBLE_EQ((*v)[24], 1.0);
  EXPECT_DOUBLE_EQ((*v)[6], 0.5);
  auto a = block_preset("GRAD_A");
  for (int i = 0; i < 25; ++i) EXPECT_DOUBLE_EQ((*a)[i] + (*v)[i], 1.0);
  EXPECT_DOUBLE_EQ((*block_preset("SMOOTHSTEP"))[12], 0.5);
  EXPECT_DOUBLE_EQ((*block_preset("MID_ONLY"))[12], 1.0);
  EXPECT_FALSE(block_preset("NOPE"));
  for (const auto& n : block_preset_names()) EXPECT_TRUE(block_preset(n)) << n;
}

}  // namespace
}  // namespace afa::merge
