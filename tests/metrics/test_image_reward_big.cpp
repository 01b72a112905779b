// ImageReward at full size (the published architecture: BLIP ViT-L/16 + BERT-base with cross-attention)
// with formula weights against the goldens (case 8, ir_full): 2 prompts x 2 images. Slow by nature:
// 470 million formula values and a ViT-L on two 224-px images: about 20 s of CPU time on one thread, 3.6 GB.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <string>
#include <vector>

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/metrics/image_reward.h"
#include "formula_weights.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

TEST(ImageRewardBig, FullSizeScoresMatch) {
  torch::NoGradGuard ng;
  const auto keys = read_json(metrics_golden("big/ir_full_keys.json"));
  EXPECT_EQ(keys["gain"].get<double>(), std::sqrt(12.0));
  const auto cfg = ImageRewardConfig::from_json({{"med_config", keys["med_config"]}}, "ir_full_keys.json");
  ImageReward m(cfg);
  const auto weights = formula_weights(keys["keys"], std::sqrt(12.0));
  // The key list's own check values: first three values exact, float64 sums to ~1e-9 relative.
  for (const auto& e : keys["keys"]) {
    const auto& t = weights.at(e["name"].get<std::string>());
    const auto first3 = e["first3"].get<std::vector<double>>();
    for (size_t i = 0; i < first3.size(); ++i) EXPECT_EQ(double(t.view(-1)[i].item<float>()), first3[i]) << e["name"];
    const double sum = t.to(torch::kFloat64).sum().item<double>(), want = e["sum"].get<double>();
    EXPECT_NEAR(sum, want, 1e-6 * std::max(1.0, std::abs(want))) << e["name"];
  }
  load_image_reward_weights(m, weights, "ir_full_keys.json");

  const auto cases = read_json(metrics_golden("big/big_cases.json"));
  afa::io::SafeTensorsFile images(metrics_golden("images.safetensors"));
  std::vector<torch::Tensor> px;
  for (const auto& n : cases["images"])
    px.push_back(clip_preprocess(images.get(n.get<std::string>()).permute({2, 0, 1}), ClipPreprocess::kTvPil, 224));
  const auto img = m->image_embeds(torch::stack(px));
  const auto tok = text::BertTokenizer::image_reward(default_bert_vocab());
  const auto prompts = cases["prompts"].get<std::vector<std::string>>();
  const auto [ids, mask] = tok.encode_batch(prompts, 35);
  std::vector<torch::Tensor> rows;
  for (int64_t p = 0; p < int64_t(prompts.size()); ++p) {
    const int64_t n = img.size(0);
    rows.push_back(m->reward(m->text_features(ids[p].expand({n, 35}), mask[p].expand({n, 35}), img)));
  }
  EXPECT_TRUE(GoldenClose(torch::stack(rows), afa::io::SafeTensorsFile(metrics_golden("big/big_io.safetensors")).get("ir_full.scores"),
                          1e-4, "ir_full.scores"));
}

}  // namespace
}  // namespace afa::test
