// The shape of an ImageReward model: BLIP's ViT image encoder (vit.py VisionTransformer), the BERT text
// encoder with cross-attention of BLIP's med.py (its med_config.json), and the score's normalisation.
// Defaults are the published model's: ViT-L/16 at 224 (create_vit('large')) and the repository's
// med_config.json (BERT-base, 12 layers, vocabulary 30524 = bert-base-uncased + [DEC] + [ENC]).
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace afa::metrics {

// BLIP's VisionTransformer arguments.
struct BlipVitConfig {
  int64_t img_size = 224;
  int64_t patch_size = 16;
  int64_t embed_dim = 1024;
  int64_t depth = 24;
  int64_t num_heads = 16;
  double mlp_ratio = 4.0;
  double layer_norm_eps = 1e-6;  // partial(nn.LayerNorm, eps=1e-6)

  int64_t num_patches() const { return (img_size / patch_size) * (img_size / patch_size); }
  int64_t mlp_hidden() const { return int64_t(double(embed_dim) * mlp_ratio); }
};

// med.py's BertConfig (the fields it reads).
struct MedBertConfig {
  int64_t vocab_size = 30524;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_position_embeddings = 512;
  int64_t pad_token_id = 0;
  double layer_norm_eps = 1e-12;
  // Width of the image features the cross-attention reads; BLIP_Pretrain sets it to the ViT's width
  // whatever med_config.json says.
  int64_t encoder_width = 1024;
};

struct ImageRewardConfig {
  BlipVitConfig vision;
  MedBertConfig text;
  // reward = (MLP(CLS feature) - mean) / std, ImageReward's constants.
  double mean = 0.16717362830052426;
  double std = 1.0333394966054072;
  int max_length = 35;  // the tokenizer call's max_length

  // {"med_config": {med_config.json fields}, "vision": {img_size, patch_size, embed_dim, depth, num_heads,
  // mlp_ratio}}; absent fields keep the published values. Throws afa::Error naming `source`.
  static ImageRewardConfig from_json(const nlohmann::json& j, const std::string& source);
  static ImageRewardConfig from_file(const std::string& path);
};

}  // namespace afa::metrics
