// transformers' CLIPModel, torchmetrics' CLIPScore, PickScore and HPSv2 on the tiny CLIP of the goldens
// (cases 4 and 6): the same shipped weights run with quick_gelu (OpenAI ViT-L/14 family) and exact gelu
// (ViT-H-14: PickScore, HPSv2), and in open_clip naming for HPSv2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_model.h"
#include "afa/metrics/clip_open_clip_names.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/clip_scores.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

const nlohmann::json& tiny_configs() {
  static const nlohmann::json j = read_json(metrics_golden("clip/clip_tiny_configs.json"));
  return j;
}

const afa::io::SafeTensorsFile& tiny_io() {
  static const afa::io::SafeTensorsFile f(metrics_golden("clip/clip_tiny_io.safetensors"));
  return f;
}

ClipModel tiny_hf_model(const std::string& act) {
  const auto cfg = ClipConfig::from_json(tiny_configs()["hf_clip_config_" + act], "clip_tiny_configs.json");
  ClipModel m(cfg);
  const std::string path = metrics_golden("clip/clip_tiny_hf.safetensors");
  load_clip_weights(m, afa::io::load_safetensors(path), path);
  m->eval();
  return m;
}

// The open_clip file plus the token embedding it leaves out (the README: equal to HF's).
afa::io::StateDict tiny_open_clip_weights() {
  auto sd = afa::io::load_safetensors(metrics_golden("clip/clip_tiny_openclip_minus_token_embedding.safetensors"));
  afa::io::SafeTensorsFile hf(metrics_golden("clip/clip_tiny_hf.safetensors"));
  sd["token_embedding.weight"] = hf.get("text_model.embeddings.token_embedding.weight");
  return sd;
}

TEST(ClipConfig, ReadsTheTinyConfigs) {
  const auto q = ClipConfig::from_json(tiny_configs()["hf_clip_config_quick_gelu"], "q");
  EXPECT_EQ(q.vision.hidden_size, 32);
  EXPECT_EQ(q.vision.patch_size, 8);
  EXPECT_EQ(q.vision.image_size, 32);
  EXPECT_EQ(q.vision.num_patches(), 16);
  EXPECT_EQ(q.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(q.text.hidden_size, 32);
  EXPECT_EQ(q.text.eos_token_id, 2);
  EXPECT_EQ(q.projection_dim, 16);
  const auto g = ClipConfig::from_json(tiny_configs()["hf_clip_config_gelu"], "g");
  EXPECT_EQ(g.vision.hidden_act, "gelu");
  EXPECT_EQ(g.text.hidden_act, "gelu");
  nlohmann::json bad = tiny_configs()["hf_clip_config_gelu"];
  bad["vision_config"]["patch_size"] = 7;
  EXPECT_THROW(ClipConfig::from_json(bad, "bad"), afa::Error);
  bad = tiny_configs()["hf_clip_config_gelu"];
  bad["vision_config"]["hidden_act"] = "relu";
  EXPECT_THROW(ClipConfig::from_json(bad, "bad"), afa::Error);
}

TEST(ClipModel, TinyEmbeddingsAndScoresMatchTransformers) {
  torch::NoGradGuard ng;
  const auto pixels = tiny_io().get("pixel_values_32");
  const auto ids = tiny_io().get("input_ids");
  for (const std::string act : {"quick_gelu", "gelu"}) {
    SCOPED_TRACE(act);
    auto m = tiny_hf_model(act);
    const auto g = [&](const std::string& k) { return tiny_io().get(act + "." + k); };
    EXPECT_TRUE(GoldenClose(m->vision_pooled(pixels), g("vision_pooler_output"), 1e-5, act + ".vision_pooler_output"));
    EXPECT_TRUE(GoldenClose(m->text_pooled(ids), g("text_pooler_output"), 1e-5, act + ".text_pooler_output"));
    const auto img = m->image_features(pixels), txt = m->text_features(ids);
    EXPECT_TRUE(GoldenClose(img, g("image_embeds_raw"), 1e-5, act + ".image_embeds_raw"));
    EXPECT_TRUE(GoldenClose(txt, g("text_embeds_raw"), 1e-5, act + ".text_embeds_raw"));
    EXPECT_TRUE(GoldenClose(l2_normalize(img), g("image_embeds"), 1e-5, act + ".image_embeds"));
    EXPECT_TRUE(GoldenClose(l2_normalize(txt), g("text_embeds"), 1e-5, act + ".text_embeds"));
    EXPECT_TRUE(GoldenClose(m->logit_scale.exp(), g("logit_scale_exp"), 1e-5, act + ".logit_scale_exp"));
    // logits_per_image [image, prompt] = exp(logit_scale) * cos: PickScore's scores, transposed.
    const auto pick = pick_scores(txt, img, m->logit_scale);
    EXPECT_TRUE(GoldenClose(pick.scores.t(), g("logits_per_image"), 1e-4, act + ".logits_per_image"));
    EXPECT_TRUE(GoldenClose(cosine_matrix_100(img, img), g("clip_i_100cos"), 1e-4, act + ".clip_i_100cos"));
    EXPECT_TRUE(GoldenClose(cosine_matrix_100(img, txt).clamp_min(0), g("clipscore_100_max_cos_0"), 1e-4,
                            act + ".clipscore_100_max_cos_0"));
    const auto pairs = paired_cosine_100(img, txt);
    EXPECT_TRUE(GoldenClose(pairs, g("torchmetrics_pair_scores"), 1e-4, act + ".torchmetrics_pair_scores"));
    EXPECT_NEAR(clip_score_from_pairs(pairs), g("torchmetrics_clip_score").item<double>(), 1e-4);
  }
}

TEST(ClipModel, TinyPipelineFromImagesMatchesTorchmetrics) {
  // End to end: uint8 images through our CLIPImageProcessor at 32, then the model and CLIPScore.
  torch::NoGradGuard ng;
  afa::io::SafeTensorsFile images(metrics_golden("images.safetensors"));
  std::vector<torch::Tensor> px;
  for (const char* n : {"img_a", "img_b", "img_c"})
    px.push_back(clip_preprocess(images.get(n).permute({2, 0, 1}), ClipPreprocess::kClipHf, 32));
  auto m = tiny_hf_model("quick_gelu");
  const auto pairs =
      paired_cosine_100(m->image_features(torch::stack(px)), m->text_features(tiny_io().get("input_ids")));
  EXPECT_TRUE(GoldenClose(pairs, tiny_io().get("quick_gelu.torchmetrics_pair_scores"), 1e-4,
                          "quick_gelu.torchmetrics_pair_scores"));
}

TEST(ClipScore, ClampsTheMeanNotEachPair) {
  // torchmetrics: max(mean, 0). One negative pair lowers the mean; only a negative mean gives 0.
  EXPECT_DOUBLE_EQ(clip_score_from_pairs(torch::tensor({30.0, -10.0})), 10.0);
  EXPECT_DOUBLE_EQ(clip_score_from_pairs(torch::tensor({5.0, -10.0})), 0.0);
  EXPECT_THROW(paired_cosine_100(torch::ones({2, 4}), torch::ones({3, 4})), afa::Error);
}

TEST(PickScore, TinyScoresAndProbsMatch) {
  torch::NoGradGuard ng;
  auto m = tiny_hf_model("gelu");
  const auto r = pick_scores(m->text_features(tiny_io().get("input_ids")),
                             m->image_features(tiny_io().get("pixel_values_32")), m->logit_scale);
  EXPECT_TRUE(GoldenClose(r.scores, tiny_io().get("pickscore.scores"), 1e-5, "pickscore.scores"));
  EXPECT_TRUE(GoldenClose(r.probs, tiny_io().get("pickscore.probs"), 1e-5, "pickscore.probs"));
}

TEST(OpenClipNames, MapToTheTransformersTensors) {
  const auto hf = afa::io::load_safetensors(metrics_golden("clip/clip_tiny_hf.safetensors"));
  const auto mapped = open_clip_to_hf_names(tiny_open_clip_weights(), "tiny open_clip");
  ASSERT_EQ(mapped.size(), hf.size());
  for (const auto& [name, t] : hf) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(mapped.count(name));
    EXPECT_TRUE(torch::equal(mapped.at(name), t));
  }
  auto extra = tiny_open_clip_weights();
  extra["visual.transformer.resblocks.0.attn.unknown"] = torch::zeros({1});
  EXPECT_THROW(open_clip_to_hf_names(extra, "x"), afa::Error);
}

TEST(Hpsv2, TinyFeaturesAndScoresMatch) {
  torch::NoGradGuard ng;
  const auto cfg = ClipConfig::from_json(tiny_configs()["hf_clip_config_gelu"], "clip_tiny_configs.json");
  ClipModel m(cfg);
  load_clip_weights(m, open_clip_to_hf_names(tiny_open_clip_weights(), "tiny"), "tiny open_clip");
  m->eval();
  const auto img = m->image_features(tiny_io().get("hpsv2.pixel_values_32"));
  const auto txt = m->text_features(tiny_io().get("hpsv2.text_tokens"));
  EXPECT_TRUE(GoldenClose(l2_normalize(img), tiny_io().get("hpsv2.image_features"), 1e-6, "hpsv2.image_features"));
  EXPECT_TRUE(GoldenClose(l2_normalize(txt), tiny_io().get("hpsv2.text_features"), 1e-6, "hpsv2.text_features"));
  EXPECT_TRUE(GoldenClose(hps_scores(txt, img), tiny_io().get("hpsv2.scores"), 1e-6, "hpsv2.scores"));
}

TEST(Hpsv2, OpenClipTokensDifferFromTransformersOnlyInPadding) {
  // open_clip pads with 0, transformers' tokenizer (SD's) with the end token; the end token is pooled
  // either way, so the features agree. Checked here on the goldens' three prompts.
  const auto oc = tiny_io().get("hpsv2.text_tokens"), hf = tiny_io().get("input_ids");
  for (int64_t i = 0; i < oc.size(0); ++i) {
    const int64_t end = oc[i].argmax().item<int64_t>();
    EXPECT_EQ(oc[i][end].item<int64_t>(), 49407);
    EXPECT_TRUE(torch::equal(oc[i].narrow(0, 0, end + 1), hf[i].narrow(0, 0, end + 1))) << "prompt " << i;
  }
}

}  // namespace
}  // namespace afa::test
