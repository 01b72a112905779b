// LAION's improved aesthetic predictor v2 (sac+logos+ava1-l14-linearMSE): an MLP on the L2-normalised
// CLIP ViT-L/14 image embedding (openai CLIP's preprocessing, i.e. ClipPreprocess::kTvPil) -> one score,
// about 1..10. No activations between the layers (as published); the dropouts are inactive in evaluation.
// Parameter names are the published file's: layers.{0,2,4,6,7}.{weight,bias}.
#pragma once

#include <torch/torch.h>

#include <string>

#include "afa/io/state_dict.h"

namespace afa::metrics {

class AestheticPredictorImpl : public torch::nn::Module {
 public:
  explicit AestheticPredictorImpl(int64_t input_size = 768);
  // embeddings [N, input_size], already normalised -> scores [N].
  torch::Tensor forward(const torch::Tensor& embeddings);
  // Raw image embeddings -> F.normalize -> scores [N] (ImageReward's AestheticScore.score).
  torch::Tensor score_raw(const torch::Tensor& image_embeddings);

  torch::nn::Sequential layers{nullptr};
};
TORCH_MODULE(AestheticPredictor);

// The predictor in evaluation mode with the weights of a .safetensors file, on `device`.
AestheticPredictor load_aesthetic_predictor(const std::string& safetensors_path, const torch::Device& device);

}  // namespace afa::metrics
