// BLIP's text encoder (med.py BertModel, add_pooling_layer=False) in its "multimodal" use by ImageReward:
// BERT embeddings without token types (word + absolute position, LayerNorm), then layers of
// self-attention (padding masked with -10000 as med.py's get_extended_attention_mask), cross-attention
// to the image features (keys/values from encoder_width), and the GELU feed-forward, each post-LN with
// a residual. Parameter names are the checkpoint's below "blip.text_encoder." (embeddings.*,
// encoder.layer.N.{attention,crossattention}.{self.{query,key,value},output.{dense,LayerNorm}}.*,
// encoder.layer.N.intermediate.dense.*, encoder.layer.N.output.{dense,LayerNorm}.*).
#pragma once

#include <torch/torch.h>

#include "afa/metrics/image_reward_config.h"
#include "afa/models/layers.h"

namespace afa::metrics {

// BertSelfAttention (self., keys/values of width kv_width) + BertSelfOutput (output.).
class MedBertAttentionImpl : public torch::nn::Module {
 public:
  MedBertAttentionImpl(const MedBertConfig& cfg, int64_t kv_width);
  // hidden [N, L, H]; context [N, S, kv_width]; additive mask broadcastable to [N, heads, L, S] or undefined.
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& context, const torch::Tensor& mask);

  models::Linear query{nullptr}, key{nullptr}, value{nullptr}, dense{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};

 private:
  int64_t heads_;
};
TORCH_MODULE(MedBertAttention);

class MedBertLayerImpl : public torch::nn::Module {
 public:
  explicit MedBertLayerImpl(const MedBertConfig& cfg);
  torch::Tensor forward(const torch::Tensor& hidden, const torch::Tensor& mask, const torch::Tensor& image_embeds);

  MedBertAttention attention{nullptr}, crossattention{nullptr};
  models::Linear intermediate_dense{nullptr}, output_dense{nullptr};
  torch::nn::LayerNorm output_layer_norm{nullptr};
};
TORCH_MODULE(MedBertLayer);

class MedBertModelImpl : public torch::nn::Module {
 public:
  explicit MedBertModelImpl(const MedBertConfig& cfg);
  // last_hidden_state [N, L, hidden] of input_ids / attention_mask (I64 [N, L], L <= max positions)
  // cross-attending to image_embeds [N, S, encoder_width] (every image token attended).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& image_embeds);

  models::Embedding word_embeddings{nullptr}, position_embeddings{nullptr};
  torch::nn::LayerNorm embeddings_layer_norm{nullptr};
  torch::nn::ModuleList layers{nullptr};

 private:
  MedBertConfig cfg_;
};
TORCH_MODULE(MedBertModel);

}  // namespace afa::metrics
