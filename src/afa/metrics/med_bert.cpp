#include "afa/metrics/med_bert.h"

#include <cmath>

#include "afa/util/error.h"

namespace afa::metrics {

namespace {

torch::nn::LayerNorm make_layer_norm(int64_t d, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(eps));
}

// Empty modules that only give their children the checkpoint's dotted names.
struct Named : torch::nn::Module {};

}  // namespace

MedBertAttentionImpl::MedBertAttentionImpl(const MedBertConfig& cfg, int64_t kv_width)
    : heads_(cfg.num_attention_heads) {
  const int64_t h = cfg.hidden_size;
  auto self = register_module("self", std::make_shared<Named>());
  query = self->register_module("query", models::Linear(h, h));
  key = self->register_module("key", models::Linear(kv_width, h));
  value = self->register_module("value", models::Linear(kv_width, h));
  auto output = register_module("output", std::make_shared<Named>());
  dense = output->register_module("dense", models::Linear(h, h));
  layer_norm = output->register_module("LayerNorm", make_layer_norm(h, cfg.layer_norm_eps));
}

torch::Tensor MedBertAttentionImpl::forward(const torch::Tensor& hidden, const torch::Tensor& context,
                                            const torch::Tensor& mask) {
  const int64_t n = hidden.size(0), l = hidden.size(1), c = hidden.size(2), d = c / heads_;
  auto heads = [&](const torch::Tensor& x) { return x.view({n, x.size(1), heads_, d}).permute({0, 2, 1, 3}); };
  const auto q = heads(query->forward(hidden)), k = heads(key->forward(context)), v = heads(value->forward(context));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(d));
  if (mask.defined()) scores = scores + mask;
  const auto ctx = torch::matmul(torch::softmax(scores, -1), v).permute({0, 2, 1, 3}).reshape({n, l, c});
  return layer_norm->forward(dense->forward(ctx) + hidden);
}

MedBertLayerImpl::MedBertLayerImpl(const MedBertConfig& cfg) {
  attention = register_module("attention", MedBertAttention(cfg, cfg.hidden_size));
  crossattention = register_module("crossattention", MedBertAttention(cfg, cfg.encoder_width));
  auto intermediate = register_module("intermediate", std::make_shared<Named>());
  intermediate_dense = intermediate->register_module("dense", models::Linear(cfg.hidden_size, cfg.intermediate_size));
  auto output = register_module("output", std::make_shared<Named>());
  output_dense = output->register_module("dense", models::Linear(cfg.intermediate_size, cfg.hidden_size));
  output_layer_norm = output->register_module("LayerNorm", make_layer_norm(cfg.hidden_size, cfg.layer_norm_eps));
}

torch::Tensor MedBertLayerImpl::forward(const torch::Tensor& hidden, const torch::Tensor& mask,
                                        const torch::Tensor& image_embeds) {
  const auto a = attention->forward(hidden, hidden, mask);
  // The image mask is all ones: its inverted form adds zero, so none is applied.
  const auto x = crossattention->forward(a, image_embeds, torch::Tensor());
  return output_layer_norm->forward(output_dense->forward(torch::gelu(intermediate_dense->forward(x))) + x);
}

MedBertModelImpl::MedBertModelImpl(const MedBertConfig& cfg) : cfg_(cfg) {
  auto embeddings = register_module("embeddings", std::make_shared<Named>());
  word_embeddings = embeddings->register_module("word_embeddings", models::Embedding(cfg.vocab_size, cfg.hidden_size));
  position_embeddings = embeddings->register_module(
      "position_embeddings", models::Embedding(cfg.max_position_embeddings, cfg.hidden_size));
  embeddings_layer_norm = embeddings->register_module("LayerNorm", make_layer_norm(cfg.hidden_size, cfg.layer_norm_eps));
  auto encoder = register_module("encoder", std::make_shared<Named>());
  layers = encoder->register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(MedBertLayer(cfg));
}

torch::Tensor MedBertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                        const torch::Tensor& image_embeds) {
  const int64_t l = input_ids.size(1);
  AFA_CHECK(input_ids.dim() == 2 && l <= cfg_.max_position_embeddings, "BLIP text encoder: expected ids [N, <= ",
            cfg_.max_position_embeddings, "], got ", input_ids.sizes());
  AFA_CHECK(attention_mask.sizes() == input_ids.sizes(), "BLIP text encoder: attention mask ", attention_mask.sizes(),
            " does not match ids ", input_ids.sizes());
  AFA_CHECK(image_embeds.dim() == 3 && image_embeds.size(0) == input_ids.size(0) &&
                image_embeds.size(2) == cfg_.encoder_width,
            "BLIP text encoder: expected image features [", input_ids.size(0), ", S, ", cfg_.encoder_width, "], got ",
            image_embeds.sizes());
  const int64_t max_id = input_ids.numel() ? input_ids.max().item<int64_t>() : 0;
  const int64_t min_id = input_ids.numel() ? input_ids.min().item<int64_t>() : 0;
  AFA_CHECK(min_id >= 0 && max_id < cfg_.vocab_size, "BLIP text encoder: token id ", min_id < 0 ? min_id : max_id,
            " is outside the vocabulary of ", cfg_.vocab_size);
  auto h = word_embeddings->forward(input_ids) + position_embeddings->weight.slice(0, 0, l).unsqueeze(0);
  h = embeddings_layer_norm->forward(h);
  // (1 - mask) * -10000 over the keys, as med.py (not -inf).
  const auto mask = (1.0 - attention_mask.to(h.scalar_type())).view({input_ids.size(0), 1, 1, l}) * -10000.0;
  for (const auto& layer : *layers) h = layer->as<MedBertLayer>()->forward(h, mask, image_embeds);
  return h;
}

}  // namespace afa::metrics
