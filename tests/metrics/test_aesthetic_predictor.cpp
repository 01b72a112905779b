// LAION's aesthetic predictor v2 MLP against the goldens (case 5), with the shipped random weights (the
// published weights are not shipped; their scores are in the goldens for a user who has the file).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "afa/io/safetensors.h"
#include "afa/metrics/aesthetic_predictor.h"
#include "metrics_golden.h"
#include "test_util.h"

namespace afa::test {
namespace {

using namespace afa::metrics;

TEST(AestheticPredictor, RandomWeightsScoresMatch) {
  torch::NoGradGuard ng;
  auto m = load_aesthetic_predictor(metrics_golden("aesthetic/aesthetic_mlp_random.safetensors"), torch::kCPU);
  afa::io::SafeTensorsFile io(metrics_golden("aesthetic/aesthetic_io.safetensors"));
  EXPECT_TRUE(GoldenClose(m->score_raw(io.get("embeddings_raw")), io.get("score_random_weights"), 1e-5,
                          "score_random_weights"));
  EXPECT_TRUE(GoldenClose(m->forward(io.get("embeddings_normalized")), io.get("score_random_weights"), 1e-5,
                          "score_random_weights"));
  EXPECT_THROW(m->forward(torch::zeros({2, 512})), afa::Error);
}

TEST(AestheticPredictor, WrongKeysAreRefused) {
  AestheticPredictor m;
  afa::io::StateDict sd = afa::io::load_safetensors(metrics_golden("aesthetic/aesthetic_mlp_random.safetensors"));
  sd.erase("layers.7.bias");
  EXPECT_THROW(afa::io::load_state_dict(*m, sd, "x"), afa::Error);
}

}  // namespace
}  // namespace afa::test
