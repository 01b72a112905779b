// transformers' CLIPTextModel (the SD 1.5 text encoder): token + position embeddings, pre-LN transformer
// layers with a causal mask, final LayerNorm. Submodule names follow transformers, so a checkpoint's
// text_model.* keys load by name (afa::io::load_state_dict).
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "afa/models/layers.h"

namespace afa::text {

// The fields of transformers' CLIPTextConfig that shape the model; defaults are transformers' defaults.
struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // or "gelu" (exact, erf)
  // Pooling: 2 (legacy configs, SD 1.5's) pools at the largest id, which is <|endoftext|> in CLIP's
  // vocabulary; any other value pools at the first position holding that id.
  int64_t eos_token_id = 49407;

  // A CLIPTextConfig JSON object, or a CLIPConfig one holding it under "text_config". Throws afa::Error
  // naming `source` for missing or nonsensical values.
  static ClipTextConfig from_json(const nlohmann::json& j, const std::string& source);
  // A config.json file.
  static ClipTextConfig from_file(const std::string& path);

  // SD 1.5's text encoder, CLIP ViT-L/14's text tower (768 wide, 12 layers, 12 heads).
  static ClipTextConfig sd15();
};

class ClipAttentionImpl : public torch::nn::Module {
 public:
  explicit ClipAttentionImpl(const ClipTextConfig& cfg);
  // x [B,S,D]; mask additive, broadcastable to [B,heads,S,S].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  models::Linear k_proj{nullptr}, v_proj{nullptr}, q_proj{nullptr}, out_proj{nullptr};

 private:
  int64_t heads_, head_dim_;
  double scale_;
};
TORCH_MODULE(ClipAttention);

class ClipMlpImpl : public torch::nn::Module {
 public:
  explicit ClipMlpImpl(const ClipTextConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);

  models::Linear fc1{nullptr}, fc2{nullptr};

 private:
  bool quick_gelu_;
};
TORCH_MODULE(ClipMlp);

class ClipEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit ClipEncoderLayerImpl(const ClipTextConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

  ClipAttention self_attn{nullptr};
  torch::nn::LayerNorm layer_norm1{nullptr};
  ClipMlp mlp{nullptr};
  torch::nn::LayerNorm layer_norm2{nullptr};
};
TORCH_MODULE(ClipEncoderLayer);

class ClipTextEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit ClipTextEmbeddingsImpl(const ClipTextConfig& cfg);
  torch::Tensor forward(const torch::Tensor& input_ids);  // [B,S] -> [B,S,D]

  models::Embedding token_embedding{nullptr}, position_embedding{nullptr};
};
TORCH_MODULE(ClipTextEmbeddings);

// Holds the layers as "layers.N" (a ModuleList) like CLIPEncoder.
class ClipEncoderImpl : public torch::nn::Module {
 public:
  explicit ClipEncoderImpl(const ClipTextConfig& cfg);
  ClipEncoderLayer layer(size_t i) const;
  size_t size() const { return layers->size(); }

  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(ClipEncoder);

class ClipTextTransformerImpl : public torch::nn::Module {
 public:
  explicit ClipTextTransformerImpl(const ClipTextConfig& cfg);

  ClipTextEmbeddings embeddings{nullptr};
  ClipEncoder encoder{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
};
TORCH_MODULE(ClipTextTransformer);

struct ClipTextOutput {
  torch::Tensor last_hidden_state;           // [B,S,D], after final_layer_norm
  torch::Tensor pooler_output;               // [B,D], last_hidden_state at the end token
  std::vector<torch::Tensor> hidden_states;  // if asked: embeddings, then each layer's output (no final LN)
};

class ClipTextModel : public torch::nn::Module {
 public:
  explicit ClipTextModel(const ClipTextConfig& cfg);

  // input_ids I64 (or any integer type) [B,S], S <= max_position_embeddings -> last_hidden_state
  // [B,S,D] in the module's dtype. skip_last_layers > 0 stops that many layers early and applies the
  // final LayerNorm to that output (A1111's "CLIP skip" N is skip_last_layers = N - 1).
  torch::Tensor forward(const torch::Tensor& input_ids, int skip_last_layers = 0);
  // Everything CLIPTextModel returns; hidden_states only when output_hidden_states.
  ClipTextOutput forward_full(const torch::Tensor& input_ids, bool output_hidden_states = false);

  const ClipTextConfig& config() const { return cfg_; }

  ClipTextTransformer text_model{nullptr};

 private:
  // Runs embeddings and the first n_layers layers; pushes intermediate states when `states` is given.
  torch::Tensor encode(const torch::Tensor& input_ids, size_t n_layers, std::vector<torch::Tensor>* states);
  ClipTextConfig cfg_;
};

}  // namespace afa::text
