#include "afa/metrics/clip_scores.h"

#include <torch/torch.h>

#include <algorithm>

#include "afa/metrics/clip_model.h"
#include "afa/util/error.h"

namespace afa::metrics {

namespace {

void check_features(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  AFA_CHECK(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), what,
            ": expected embeddings [N, D] of one width, got ", a.sizes(), " and ", b.sizes());
}

}  // namespace

torch::Tensor paired_cosine(const torch::Tensor& a, const torch::Tensor& b) {
  check_features(a, b, "image-prompt score");
  AFA_CHECK(a.size(0) == b.size(0), "image-prompt score: ", a.size(0), " embeddings against ", b.size(0),
            "; it needs one prompt per image");
  return (l2_normalize(a) * l2_normalize(b)).sum(-1);
}

torch::Tensor paired_cosine_100(const torch::Tensor& a, const torch::Tensor& b) { return 100 * paired_cosine(a, b); }

torch::Tensor paired_pick_scores(const torch::Tensor& text_features, const torch::Tensor& image_features,
                                 const torch::Tensor& logit_scale) {
  return logit_scale.exp() * paired_cosine(text_features, image_features);
}

double clip_score_from_pairs(const torch::Tensor& pair_scores) {
  AFA_CHECK(pair_scores.numel() > 0, "CLIP score: no image-prompt pairs");
  // torchmetrics: torch.max(score.mean(0), 0), in the scores' dtype.
  return std::max(pair_scores.mean().item<double>(), 0.0);
}

torch::Tensor cosine_matrix_100(const torch::Tensor& a, const torch::Tensor& b) {
  check_features(a, b, "CLIP-I");
  return 100 * torch::matmul(l2_normalize(a), l2_normalize(b).t());
}

PickScores pick_scores(const torch::Tensor& text_features, const torch::Tensor& image_features,
                       const torch::Tensor& logit_scale) {
  check_features(text_features, image_features, "PickScore");
  PickScores r;
  r.scores = logit_scale.exp() * torch::matmul(l2_normalize(text_features), l2_normalize(image_features).t());
  r.probs = torch::softmax(r.scores, -1);
  return r;
}

torch::Tensor hps_scores(const torch::Tensor& text_features, const torch::Tensor& image_features) {
  check_features(text_features, image_features, "HPSv2");
  return torch::matmul(l2_normalize(text_features), l2_normalize(image_features).t());
}

}  // namespace afa::metrics
