#include "afa/metrics/clip_model.h"

#include "afa/io/safetensors.h"
#include "afa/metrics/clip_open_clip_names.h"
#include "afa/util/error.h"

namespace afa::metrics {

namespace {

torch::nn::LayerNorm layer_norm(int64_t d, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(eps));
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ClipVisionEmbeddingsImpl::ClipVisionEmbeddingsImpl(const ClipVisionConfig& cfg) {
  class_embedding = register_parameter("class_embedding", torch::zeros({cfg.hidden_size}));
  patch_embedding = register_module(
      "patch_embedding",
      models::Conv2d(
          torch::nn::Conv2dOptions(3, cfg.hidden_size, cfg.patch_size).stride(cfg.patch_size).bias(false)));
  position_embedding =
      register_module("position_embedding", models::Embedding(cfg.num_patches() + 1, cfg.hidden_size));
}

torch::Tensor ClipVisionEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  const auto patches = patch_embedding->forward(pixel_values).flatten(2).transpose(1, 2);  // [N, P, D]
  const auto cls = class_embedding.view({1, 1, -1}).expand({patches.size(0), 1, patches.size(2)});
  return torch::cat({cls, patches}, 1) + position_embedding->weight.unsqueeze(0);
}

ClipVisionTransformerImpl::ClipVisionTransformerImpl(const ClipVisionConfig& cfg) : image_size_(cfg.image_size) {
  embeddings = register_module("embeddings", ClipVisionEmbeddings(cfg));
  pre_layrnorm = register_module("pre_layrnorm", layer_norm(cfg.hidden_size, cfg.layer_norm_eps));
  encoder = register_module("encoder", text::ClipEncoder(cfg.as_encoder_config()));
  post_layernorm = register_module("post_layernorm", layer_norm(cfg.hidden_size, cfg.layer_norm_eps));
}

torch::Tensor ClipVisionTransformerImpl::pooled(const torch::Tensor& pixel_values) {
  AFA_CHECK(pixel_values.dim() == 4 && pixel_values.size(1) == 3 && pixel_values.size(2) == image_size_ &&
                pixel_values.size(3) == image_size_,
            "CLIP image tower: expected pixel values [N, 3, ", image_size_, ", ", image_size_, "], got ",
            pixel_values.sizes());
  auto h = pre_layrnorm->forward(embeddings->forward(pixel_values));
  // No mask in the image tower; the shared encoder layers add one, so they get an exact zero.
  const auto no_mask = torch::zeros({}, h.options());
  for (size_t i = 0; i < encoder->size(); ++i) h = encoder->layer(i)->forward(h, no_mask);
  return post_layernorm->forward(h.select(1, 0));
}

ClipModelImpl::ClipModelImpl(const ClipConfig& cfg) : cfg_(cfg) {
  text_ = std::make_shared<text::ClipTextModel>(cfg.text);
  vision_model = register_module("vision_model", ClipVisionTransformer(cfg.vision));
  text_model = register_module("text_model", text_->text_model);
  visual_projection = register_module(
      "visual_projection",
      models::Linear(torch::nn::LinearOptions(cfg.vision.hidden_size, cfg.projection_dim).bias(false)));
  text_projection = register_module(
      "text_projection",
      models::Linear(torch::nn::LinearOptions(cfg.text.hidden_size, cfg.projection_dim).bias(false)));
  logit_scale = register_parameter("logit_scale", torch::tensor(2.6592f));  // transformers' init, ln(1/0.07)
}

torch::Tensor ClipModelImpl::vision_pooled(const torch::Tensor& pixel_values) {
  return vision_model->pooled(pixel_values);
}

torch::Tensor ClipModelImpl::text_pooled(const torch::Tensor& input_ids) {
  return text_->forward_full(input_ids).pooler_output;
}

torch::Tensor ClipModelImpl::image_features(const torch::Tensor& pixel_values) {
  return visual_projection->forward(vision_pooled(pixel_values));
}

torch::Tensor ClipModelImpl::text_features(const torch::Tensor& input_ids) {
  return text_projection->forward(text_pooled(input_ids));
}

void load_clip_weights(ClipModel& model, const io::StateDict& weights, const std::string& source) {
  io::StateDict sd;
  for (const auto& [name, t] : weights)
    if (!ends_with(name, "position_ids")) sd.emplace(name, t);
  io::load_state_dict(*model, sd, source);
}

ClipModel load_clip_model(const std::string& safetensors_path, const ClipConfig& cfg, const torch::Device& device) {
  auto model = models::build_for_loading<ClipModel>(cfg);
  auto sd = io::load_safetensors(safetensors_path);
  if (is_open_clip_naming(sd)) sd = open_clip_to_hf_names(sd, safetensors_path);
  load_clip_weights(model, sd, safetensors_path);
  model->eval();
  model->to(device);
  return model;
}

torch::Tensor l2_normalize(const torch::Tensor& x) { return x / x.norm(2, -1, /*keepdim=*/true); }

}  // namespace afa::metrics
