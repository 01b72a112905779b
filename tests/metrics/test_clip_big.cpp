// The full-size scorers with formula weights against the goldens (case 8): CLIP ViT-L/14 (CLIP-T, the
// aesthetic predictor's image tower), PickScore's ViT-H/14 (transformers naming) and HPSv2's ViT-H/14
// (open_clip naming). Slow by nature: each test generates 0.4-1 billion weight values from their formula
// and runs a full-size ViT on two 224-px images (about 80-170 GFLOP per image) on one thread: about 30 s
// (ViT-L) and 45 s (ViT-H) of CPU time each, more on a busy machine.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/aesthetic_predictor.h"
#include "afa/metrics/clip_model.h"
#include "afa/metrics/clip_open_clip_names.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/clip_scores.h"
#include "formula_weights.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

const afa::io::SafeTensorsFile& big_io() {
  static const afa::io::SafeTensorsFile f(metrics_golden("big/big_io.safetensors"));
  return f;
}

// img_c, img_s (the goldens' order) through a preprocessing path at 224.
torch::Tensor big_images(ClipPreprocess path) {
  afa::io::SafeTensorsFile f(metrics_golden("images.safetensors"));
  return torch::stack({clip_preprocess(f.get("img_c").permute({2, 0, 1}), path),
                       clip_preprocess(f.get("img_s").permute({2, 0, 1}), path)});
}

// The goldens' embedding tolerance: 1e-3 relative per component (observed f32 vs f64: 2e-4). Components
// near zero are measured against 1% of the largest one, where relative error stops meaning anything.
::testing::AssertionResult EmbeddingsClose(const torch::Tensor& actual, const torch::Tensor& expected,
                                           const std::string& label) {
  const auto a = actual.to(torch::kFloat64), e = expected.to(torch::kFloat64);
  if (a.sizes() != e.sizes()) return ::testing::AssertionFailure() << "shape " << a.sizes() << " != " << e.sizes();
  const auto floor = 1e-2 * e.abs().max();
  const double rel = ((a - e).abs() / torch::max(e.abs(), floor)).max().item<double>();
  std::cout << "[ golden   ] " << label << ": max relative difference " << rel << " (tolerance 1e-3)\n";
  if (rel <= 1e-3) return ::testing::AssertionSuccess() << "max relative difference " << rel;
  return ::testing::AssertionFailure() << "max relative difference " << rel << " > 1e-3";
}

// A model of `cfg` holding the formula weights of a key list (transformers naming, or open_clip's).
ClipModel formula_clip(const std::string& keys_file, const ClipConfig& cfg) {
  const auto keys = read_json(metrics_golden("big/" + keys_file));
  EXPECT_EQ(keys["gain"].get<double>(), std::sqrt(12.0));
  ClipModel m(cfg);
  auto sd = formula_weights(keys["keys"], std::sqrt(12.0));
  if (is_open_clip_naming(sd)) sd = open_clip_to_hf_names(sd, keys_file);
  load_clip_weights(m, sd, keys_file);
  m->eval();
  return m;
}

TEST(ClipBig, VitL14PresetIsTheGoldensConfig) {
  const auto j = read_json(metrics_golden("big/clip_l14_keys.json"))["config"];
  const auto a = ClipConfig::from_json(j, "clip_l14"), b = ClipConfig::vit_large_patch14();
  EXPECT_EQ(a.vision.hidden_size, b.vision.hidden_size);
  EXPECT_EQ(a.vision.num_hidden_layers, b.vision.num_hidden_layers);
  EXPECT_EQ(a.vision.num_attention_heads, b.vision.num_attention_heads);
  EXPECT_EQ(a.vision.intermediate_size, b.vision.intermediate_size);
  EXPECT_EQ(a.vision.patch_size, b.vision.patch_size);
  EXPECT_EQ(a.vision.hidden_act, b.vision.hidden_act);
  EXPECT_EQ(a.text.hidden_size, b.text.hidden_size);
  EXPECT_EQ(a.text.num_hidden_layers, b.text.num_hidden_layers);
  EXPECT_EQ(a.text.hidden_act, b.text.hidden_act);
  EXPECT_EQ(a.text.eos_token_id, b.text.eos_token_id);
  EXPECT_EQ(a.projection_dim, b.projection_dim);
  const auto h = ClipConfig::from_json(read_json(metrics_golden("big/pick_h14_keys.json"))["config"], "pick_h14");
  const auto p = ClipConfig::vit_huge_patch14();
  EXPECT_EQ(h.vision.hidden_size, p.vision.hidden_size);
  EXPECT_EQ(h.vision.num_hidden_layers, p.vision.num_hidden_layers);
  EXPECT_EQ(h.vision.intermediate_size, p.vision.intermediate_size);
  EXPECT_EQ(h.vision.hidden_act, p.vision.hidden_act);
  EXPECT_EQ(h.text.hidden_size, p.text.hidden_size);
  EXPECT_EQ(h.text.num_hidden_layers, p.text.num_hidden_layers);
  EXPECT_EQ(h.text.hidden_act, p.text.hidden_act);
  EXPECT_EQ(h.projection_dim, p.projection_dim);
}

TEST(ClipBig, VitL14ClipScoreAndAestheticMatch) {
  torch::NoGradGuard ng;
  auto m = formula_clip("clip_l14_keys.json", ClipConfig::vit_large_patch14());
  const auto ids = big_io().get("clip_l14.input_ids");
  const auto img = m->image_features(big_images(ClipPreprocess::kClipHf));
  const auto txt = m->text_features(ids);
  EXPECT_TRUE(EmbeddingsClose(img, big_io().get("clip_l14.image_embeds_raw"), "clip_l14.image_embeds_raw"));
  EXPECT_TRUE(EmbeddingsClose(txt, big_io().get("clip_l14.text_embeds_raw"), "clip_l14.text_embeds_raw"));
  EXPECT_TRUE(EmbeddingsClose(l2_normalize(img), big_io().get("clip_l14.image_embeds"), "clip_l14.image_embeds"));
  EXPECT_TRUE(EmbeddingsClose(l2_normalize(txt), big_io().get("clip_l14.text_embeds"), "clip_l14.text_embeds"));
  EXPECT_TRUE(GoldenClose(pick_scores(txt, img, m->logit_scale).scores.t(), big_io().get("clip_l14.logits_per_image"),
                          1e-4, "clip_l14.logits_per_image"));
  EXPECT_TRUE(GoldenClose(paired_cosine_100(img, txt), big_io().get("clip_l14.torchmetrics_pair_scores"), 1e-4,
                          "clip_l14.torchmetrics_pair_scores"));

  // ImageReward's AestheticScore: openai CLIP's preprocessing (torchvision on PIL), the same ViT-L/14,
  // the case-5 random MLP.
  auto mlp = load_aesthetic_predictor(metrics_golden("aesthetic/aesthetic_mlp_random.safetensors"), torch::kCPU);
  const auto aes = mlp->score_raw(m->image_features(big_images(ClipPreprocess::kTvPil)));
  EXPECT_TRUE(
      GoldenClose(aes, big_io().get("aesthetic_full.score_random_mlp"), 1e-4, "aesthetic_full.score_random_mlp"));
}

TEST(ClipBig, PickScoreVitH14Matches) {
  torch::NoGradGuard ng;
  auto m = formula_clip("pick_h14_keys.json", ClipConfig::vit_huge_patch14());
  // The goldens' prompts are clip_l14's (same tokenizer; PickScore pads per prompt, which the pooled end
  // token does not see).
  const auto r = pick_scores(m->text_features(big_io().get("clip_l14.input_ids")),
                             m->image_features(big_images(ClipPreprocess::kClipHf)), m->logit_scale);
  EXPECT_TRUE(GoldenClose(r.scores, big_io().get("pick_h14.scores"), 1e-4, "pick_h14.scores"));
  EXPECT_TRUE(GoldenClose(r.probs, big_io().get("pick_h14.probs"), 1e-4, "pick_h14.probs"));
}

TEST(ClipBig, Hpsv2VitH14Matches) {
  torch::NoGradGuard ng;
  auto m = formula_clip("hps_h14_keys.json", ClipConfig::vit_huge_patch14());
  // open_clip's tokens pad with 0 instead of the end token; the pooled end token does not see padding.
  const auto s = hps_scores(m->text_features(big_io().get("clip_l14.input_ids")),
                            m->image_features(big_images(ClipPreprocess::kHpsv2)));
  EXPECT_TRUE(GoldenClose(s, big_io().get("hps_h14.scores"), 1e-4, "hps_h14.scores"));
}

}  // namespace
}  // namespace afa::test
