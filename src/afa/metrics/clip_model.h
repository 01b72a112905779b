// transformers' CLIPModel: a ViT image tower and a text tower, each followed by a bias-free projection
// into a shared embedding space, and the learned logit_scale. Parameter names are transformers' (
// vision_model.embeddings.patch_embedding.weight, text_model.encoder.layers.0.mlp.fc1.bias,
// visual_projection.weight, logit_scale, ...), so an HF checkpoint loads by name; open_clip checkpoints
// (HPSv2) load through clip_open_clip_names.h. The text tower is afa's SD text encoder
// (afa::text::ClipTextModel), the vision tower reuses its encoder layers.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "afa/io/state_dict.h"
#include "afa/metrics/clip_config.h"
#include "afa/models/layers.h"
#include "afa/text/clip_text_model.h"

namespace afa::metrics {

// CLIPVisionEmbeddings: patch convolution (no bias), a learned class token in front, learned positions.
class ClipVisionEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit ClipVisionEmbeddingsImpl(const ClipVisionConfig& cfg);
  torch::Tensor forward(const torch::Tensor& pixel_values);  // [N, 3, S, S] -> [N, 1 + patches, D]

  torch::Tensor class_embedding;
  models::Conv2d patch_embedding{nullptr};
  models::Embedding position_embedding{nullptr};
};
TORCH_MODULE(ClipVisionEmbeddings);

// CLIPVisionTransformer. ("pre_layrnorm" is transformers' spelling.)
class ClipVisionTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipVisionTransformerImpl(const ClipVisionConfig& cfg);
  // pooler_output: post_layernorm of the class token, [N, D].
  torch::Tensor pooled(const torch::Tensor& pixel_values);

  ClipVisionEmbeddings embeddings{nullptr};
  torch::nn::LayerNorm pre_layrnorm{nullptr};
  text::ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm post_layernorm{nullptr};

 private:
  int64_t image_size_;
};
TORCH_MODULE(ClipVisionTransformer);

class ClipModelImpl : public torch::nn::Module {
 public:
  explicit ClipModelImpl(const ClipConfig& cfg);

  // get_image_features: pixel_values float [N, 3, S, S] (see clip_preprocess.h) -> [N, projection_dim],
  // not normalised.
  torch::Tensor image_features(const torch::Tensor& pixel_values);
  // get_text_features: input_ids [N, L] (L <= 77; padding after the end token does not change the result,
  // the causal mask keeps the end token from seeing it) -> [N, projection_dim], not normalised.
  torch::Tensor text_features(const torch::Tensor& input_ids);
  // The towers' pooled outputs before projection (vision_model / text_model pooler_output).
  torch::Tensor vision_pooled(const torch::Tensor& pixel_values);
  torch::Tensor text_pooled(const torch::Tensor& input_ids);

  const ClipConfig& config() const { return cfg_; }

  ClipVisionTransformer vision_model{nullptr};
  text::ClipTextTransformer text_model{nullptr};  // owned by text_, registered here for the names
  models::Linear visual_projection{nullptr}, text_projection{nullptr};
  torch::Tensor logit_scale;  // 0-d; the scale used is its exp()

 private:
  ClipConfig cfg_;
  std::shared_ptr<text::ClipTextModel> text_;
};
TORCH_MODULE(ClipModel);

// Copies HF-named weights into the model. "*position_ids" int64 buffers (older transformers files) are
// ignored; any other missing or unknown key, or a shape mismatch, is an afa::Error naming `source`.
void load_clip_weights(ClipModel& model, const io::StateDict& weights, const std::string& source);

// A CLIP model in evaluation mode from a .safetensors file in transformers' or open_clip's naming
// (detected from the keys), on `device`.
ClipModel load_clip_model(const std::string& safetensors_path, const ClipConfig& cfg, const torch::Device& device);

// L2-normalised rows, as `x / x.norm(dim=-1, keepdim=True)` in transformers, PickScore and open_clip.
torch::Tensor l2_normalize(const torch::Tensor& x);

}  // namespace afa::metrics
