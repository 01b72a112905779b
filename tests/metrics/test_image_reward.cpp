// ImageReward against the goldens' tiny model (case 7: BLIP ViT 32 wide, BERT 16 wide with
// cross-attention, shipped F16 weights): preprocessing, image features, the [CLS] text features, the raw
// MLP reward and the normalised scores of 3 prompts x 3 images; the tokenizer's ids; bad weights files.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/image_reward.h"
#include "afa/util/error.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

ImageRewardConfig tiny_config() {
  const auto j = read_json(metrics_golden("imagereward/imagereward_tiny_config.json"));
  return ImageRewardConfig::from_json({{"med_config", j["tiny_med_config"]}, {"vision", j["tiny_vit"]}}, "tiny");
}

const afa::io::SafeTensorsFile& tiny_io() {
  static const afa::io::SafeTensorsFile f(metrics_golden("imagereward/imagereward_tiny_io.safetensors"));
  return f;
}

std::vector<std::string> tiny_prompts() {
  return read_json(metrics_golden("imagereward/imagereward_tiny_config.json"))["prompts"];
}

// img_a, img_c, img_s through _transform(224).
torch::Tensor tiny_pixels() {
  afa::io::SafeTensorsFile f(metrics_golden("images.safetensors"));
  std::vector<torch::Tensor> px;
  for (const char* n : {"img_a", "img_c", "img_s"})
    px.push_back(clip_preprocess(f.get(n).permute({2, 0, 1}), ClipPreprocess::kTvPil, 224));
  return torch::stack(px);
}

TEST(ImageReward, TinyConfigReadsTheGoldens) {
  const auto c = tiny_config();
  EXPECT_EQ(c.vision.embed_dim, 32);
  EXPECT_EQ(c.vision.depth, 2);
  EXPECT_EQ(c.vision.num_heads, 4);
  EXPECT_EQ(c.text.hidden_size, 16);
  EXPECT_EQ(c.text.encoder_width, 32);  // BLIP_Pretrain's override of med_config's encoder_width
  EXPECT_EQ(c.text.vocab_size, 30524);
  const auto j = read_json(metrics_golden("imagereward/imagereward_tiny_config.json"));
  EXPECT_EQ(c.mean, j["mean"].get<double>());
  EXPECT_EQ(c.std, j["std"].get<double>());
  // The published architecture is the default.
  const auto full = ImageRewardConfig::from_json({{"med_config", j["real_med_config_from_repo"]}}, "real");
  const ImageRewardConfig d;
  EXPECT_EQ(full.text.hidden_size, d.text.hidden_size);
  EXPECT_EQ(full.text.num_hidden_layers, d.text.num_hidden_layers);
  EXPECT_EQ(full.text.intermediate_size, d.text.intermediate_size);
  EXPECT_EQ(full.text.encoder_width, 1024);
  EXPECT_EQ(d.vision.embed_dim, 1024);
  EXPECT_EQ(d.vision.depth, 24);
  EXPECT_EQ(d.vision.num_heads, 16);
  EXPECT_THROW(ImageRewardConfig::from_json({{"vision", {{"embed_dim", 30}, {"num_heads", 4}}}}, "bad"), afa::Error);
  EXPECT_THROW(ImageRewardConfig::from_json({{"med_config", {{"hidden_act", "relu"}}}}, "bad"), afa::Error);
}

TEST(ImageReward, TinyMatchesGoldens) {
  torch::NoGradGuard ng;
  auto m = load_image_reward(metrics_golden("imagereward/imagereward_tiny.safetensors"), tiny_config(), torch::kCPU);
  const auto px = tiny_pixels();
  EXPECT_TRUE(GoldenClose(px.to(torch::kFloat64).sum({2, 3}), tiny_io().get("pixel_values_224.sum_per_image_channel"),
                          1e-2, "pixel_values_224.sum_per_image_channel"));
  const auto img = m->image_embeds(px);
  EXPECT_TRUE(GoldenClose(img, tiny_io().get("image_embeds"), 1e-5, "image_embeds"));

  // The tokenizer gives the goldens' ids for the three prompts.
  const auto tok = text::BertTokenizer::image_reward(metrics_golden("imagereward/bert-base-uncased-vocab.txt"));
  const auto [ids, mask] = tok.encode_batch(tiny_prompts(), 35);
  ASSERT_TRUE(torch::equal(ids, tiny_io().get("input_ids")));
  ASSERT_TRUE(torch::equal(mask, tiny_io().get("attention_mask")));

  // Every (prompt, image) pair, prompt-major as the goldens.
  std::vector<torch::Tensor> feats;
  for (int64_t p = 0; p < 3; ++p)
    feats.push_back(m->text_features(ids[p].unsqueeze(0).expand({3, 35}), mask[p].unsqueeze(0).expand({3, 35}), img));
  const auto f = torch::cat(feats);
  EXPECT_TRUE(GoldenClose(f, tiny_io().get("txt_features_cls"), 1e-5, "txt_features_cls"));
  EXPECT_TRUE(GoldenClose(m->raw_reward(f), tiny_io().get("mlp_raw_reward").squeeze(1), 1e-5, "mlp_raw_reward"));
  const auto scores = m->reward(f).view({3, 3});
  EXPECT_TRUE(GoldenClose(scores, tiny_io().get("scores"), 1e-5, "scores"));
  EXPECT_TRUE(GoldenClose(scores, tiny_io().get("inference_rank.rewards"), 1e-5, "inference_rank.rewards"));
  // inference_rank's ranks: 1 for the best image of each prompt.
  const auto ranks = std::get<1>(std::get<1>(scores.sort(1, true)).sort(1)) + 1;
  EXPECT_TRUE(torch::equal(ranks, tiny_io().get("inference_rank.ranks")));
}

TEST(ImageReward, WeightsWithMissingOrMisnamedKeysAreRefused) {
  const auto path = metrics_golden("imagereward/imagereward_tiny.safetensors");
  ImageReward m(tiny_config());
  auto sd = afa::io::load_safetensors(path);
  // BLIP's contrastive projections and position_ids are optional.
  for (const char* k : {"blip.vision_proj.weight", "blip.vision_proj.bias", "blip.text_proj.weight",
                        "blip.text_proj.bias", "blip.text_encoder.embeddings.position_ids"})
    sd.erase(k);
  EXPECT_NO_THROW(load_image_reward_weights(m, sd, path));
  const auto t = sd.at("mlp.layers.7.bias");
  sd.erase("mlp.layers.7.bias");
  std::string msg = error_of([&] { load_image_reward_weights(m, sd, path); });
  EXPECT_NE(msg.find("mlp.layers.7.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  sd.emplace("mlp.layer.7.bias", t);  // misnamed: both names appear
  msg = error_of([&] { load_image_reward_weights(m, sd, path); });
  EXPECT_NE(msg.find("mlp.layers.7.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("mlp.layer.7.bias"), std::string::npos) << msg;
  // Another architecture does not take them (shapes differ).
  auto wider = tiny_config();
  wider.vision.embed_dim = wider.text.encoder_width = 64;
  ImageReward other(wider);
  msg = error_of([&] { load_image_reward_weights(other, afa::io::load_safetensors(path), path); });
  EXPECT_NE(msg.find("blip.visual_encoder.cls_token"), std::string::npos) << msg;
}

}  // namespace
}  // namespace afa::test
