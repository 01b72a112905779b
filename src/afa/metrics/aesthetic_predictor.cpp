#include "afa/metrics/aesthetic_predictor.h"

#include "afa/io/safetensors.h"
#include "afa/models/layers.h"
#include "afa/util/error.h"

namespace afa::metrics {

AestheticPredictorImpl::AestheticPredictorImpl(int64_t input_size) {
  using torch::nn::Dropout;
  using models::Linear;
  // Indices matter: they are the published key names (layers.0, .2, .4, .6, .7).
  layers = register_module(
      "layers", torch::nn::Sequential(Linear(input_size, 1024), Dropout(0.2), Linear(1024, 128), Dropout(0.2),
                                      Linear(128, 64), Dropout(0.1), Linear(64, 16), Linear(16, 1)));
  eval();
}

torch::Tensor AestheticPredictorImpl::forward(const torch::Tensor& embeddings) {
  const int64_t in = layers[0]->as<models::Linear>()->options.in_features();
  AFA_CHECK(embeddings.dim() == 2 && embeddings.size(1) == in, "aesthetic predictor: expected embeddings [N, ", in,
            "], got ", embeddings.sizes());
  return layers->forward(embeddings).squeeze(-1);
}

torch::Tensor AestheticPredictorImpl::score_raw(const torch::Tensor& image_embeddings) {
  // F.normalize(x, p=2, dim=-1): x / max(||x||, 1e-12).
  return forward(image_embeddings / image_embeddings.norm(2, -1, true).clamp_min(1e-12));
}

AestheticPredictor load_aesthetic_predictor(const std::string& safetensors_path, const torch::Device& device) {
  const auto sd = io::load_safetensors(safetensors_path);
  // The input width follows the file (768 for ViT-L/14 embeddings as published).
  const auto first = sd.find("layers.0.weight");
  AFA_CHECK(first != sd.end() && first->second.dim() == 2, "aesthetic predictor ", safetensors_path,
            ": no 2-D tensor layers.0.weight (expected the published MLP's names layers.{0,2,4,6,7}.*)");
  auto model = models::build_for_loading<AestheticPredictor>(first->second.size(1));
  io::load_state_dict(*model, sd, safetensors_path);
  model->eval();
  model->to(device);
  return model;
}

}  // namespace afa::metrics
