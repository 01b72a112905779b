// The scores computed from CLIP embeddings, each as its reference computes it:
//   CLIP-T    torchmetrics CLIPScore: 100 * cos(image i, prompt i); the metric is max(mean, 0) (the mean
//             is clamped, not each pair).
//   CLIP-I    100 * cos of image embeddings (generated vs reference).
//   PickScore logit_scale.exp() * cos(prompt, image), softmax over the images of one prompt.
//   HPSv2     cos(image, prompt), without the logit scale (its benchmark reports x100).
// Embeddings go in raw (get_image_features / get_text_features); the functions normalise them.
#pragma once

#include <torch/types.h>

namespace afa::metrics {

// cos of rows a[i], b[i] -> [N] (HPSv2's score of image i for prompt i).
torch::Tensor paired_cosine(const torch::Tensor& a, const torch::Tensor& b);
// 100 * cos of rows a[i], b[i] -> [N] (torchmetrics' per-pair scores, not clamped).
torch::Tensor paired_cosine_100(const torch::Tensor& a, const torch::Tensor& b);
// torchmetrics' CLIPScore from its per-pair scores: max(mean, 0).
double clip_score_from_pairs(const torch::Tensor& pair_scores);

// 100 * cos of every pair of rows: [Na, Nb] (CLIP-I between two image sets).
torch::Tensor cosine_matrix_100(const torch::Tensor& a, const torch::Tensor& b);

struct PickScores {
  torch::Tensor scores;  // [prompt, image]: logit_scale.exp() * cos
  torch::Tensor probs;   // softmax of scores over the images of each prompt
};
// PickScore's infer_example for each prompt over the same images; logit_scale is the model's raw
// (log) parameter.
PickScores pick_scores(const torch::Tensor& text_features, const torch::Tensor& image_features,
                       const torch::Tensor& logit_scale);

// PickScore of image i for prompt i alone: logit_scale.exp() * cos -> [N].
torch::Tensor paired_pick_scores(const torch::Tensor& text_features, const torch::Tensor& image_features,
                                 const torch::Tensor& logit_scale);

// HPSv2: cos [prompt, image].
torch::Tensor hps_scores(const torch::Tensor& text_features, const torch::Tensor& image_features);

}  // namespace afa::metrics
