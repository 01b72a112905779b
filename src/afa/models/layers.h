// Conv2d, Linear and Embedding with torch::nn's options, parameter names ("weight", "bias"), forward and
// default initialisation (same formulas, same random draws: a model built from a seed is the same), plus
// one thing torch::nn lacks: under a SkipInitGuard their parameters are left uninitialised. Loading a
// checkpoint builds the model and then overwrites every parameter (load_state_dict is strict), and torch's
// serial random initialisation of ~1 B parameters was 90 % of loading SD 1.5 (20 of 23 s on 2 cores).
#pragma once

#include <torch/torch.h>

namespace afa::models {

// While one lives, Conv2d / Linear / Embedding built on this thread skip their random initialisation
// (torch::empty; large parameters on transparent huge pages where the kernel offers them). Only for
// modules whose every parameter is about to be loaded.
class SkipInitGuard {
 public:
  SkipInitGuard();
  ~SkipInitGuard();
  SkipInitGuard(const SkipInitGuard&) = delete;
  SkipInitGuard& operator=(const SkipInitGuard&) = delete;
  static bool active();

 private:
  bool previous_;
};

// A module built under a SkipInitGuard, for a strict load that overwrites every parameter next:
// `auto vae = build_for_loading<AutoencoderKL>(cfg);`.
template <typename Module, typename... Args>
Module build_for_loading(Args&&... args) {
  SkipInitGuard skip_init;
  return Module(std::forward<Args>(args)...);
}

class Conv2dImpl : public torch::nn::Cloneable<Conv2dImpl> {
 public:
  explicit Conv2dImpl(torch::nn::Conv2dOptions options);
  void reset() override;
  void reset_parameters();  // torch::nn::Conv2d's: kaiming_uniform_(a = √5), bias U(±1/√fan_in)
  torch::Tensor forward(const torch::Tensor& input);

  torch::nn::Conv2dOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Conv2d);

class LinearImpl : public torch::nn::Cloneable<LinearImpl> {
 public:
  LinearImpl(int64_t in_features, int64_t out_features) : LinearImpl(torch::nn::LinearOptions(in_features, out_features)) {}
  explicit LinearImpl(torch::nn::LinearOptions options);
  void reset() override;
  void reset_parameters();  // torch::nn::Linear's: kaiming_uniform_(a = √5), bias U(±1/√fan_in)
  torch::Tensor forward(const torch::Tensor& input);

  torch::nn::LinearOptions options;
  torch::Tensor weight, bias;
};
TORCH_MODULE(Linear);

class EmbeddingImpl : public torch::nn::Cloneable<EmbeddingImpl> {
 public:
  EmbeddingImpl(int64_t num_embeddings, int64_t embedding_dim)
      : EmbeddingImpl(torch::nn::EmbeddingOptions(num_embeddings, embedding_dim)) {}
  explicit EmbeddingImpl(torch::nn::EmbeddingOptions options);
  void reset() override;
  void reset_parameters();  // torch::nn::Embedding's: N(0, 1), the padding row zero
  torch::Tensor forward(const torch::Tensor& indices);

  torch::nn::EmbeddingOptions options;
  torch::Tensor weight;
};
TORCH_MODULE(Embedding);

}  // namespace afa::models
