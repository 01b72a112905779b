#include "afa/metrics/image_reward_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "afa/util/error.h"
#include "afa/util/json_fields.h"
#include "afa/util/json_file.h"

namespace afa::metrics {

ImageRewardConfig ImageRewardConfig::from_json(const nlohmann::json& root, const std::string& source) {
  const std::string what = "ImageReward config " + source;
  AFA_CHECK(root.is_object(), what, ": expected a JSON object");
  ImageRewardConfig c;
  auto object = [&](const char* key) {
    if (!root.contains(key) || root[key].is_null()) return nlohmann::json::object();
    AFA_CHECK(root[key].is_object(), what, ": \"", key, "\" must be an object");
    return root[key];
  };

  const auto vj = object("vision");
  JsonFields v(vj, what + " (vision)");
  auto& vc = c.vision;
  vc.img_size = v.get_int("img_size", vc.img_size);
  vc.patch_size = v.get_int("patch_size", vc.patch_size);
  vc.embed_dim = v.get_int("embed_dim", vc.embed_dim);
  vc.depth = v.get_int("depth", vc.depth);
  vc.num_heads = v.get_int("num_heads", vc.num_heads);
  vc.mlp_ratio = v.get_double("mlp_ratio", vc.mlp_ratio);
  v.require_default("qkv_bias", true);
  v.require_default("in_chans", 3);
  AFA_CHECK(vc.img_size > 0 && vc.patch_size > 0 && vc.embed_dim > 0 && vc.depth > 0 && vc.num_heads > 0 &&
                vc.mlp_ratio > 0 && std::isfinite(vc.mlp_ratio),
            what, " (vision): sizes must be positive");
  AFA_CHECK(vc.img_size % vc.patch_size == 0, what, " (vision): img_size ", vc.img_size,
            " is not a multiple of patch_size ", vc.patch_size);
  AFA_CHECK(vc.embed_dim % vc.num_heads == 0, what, " (vision): embed_dim ", vc.embed_dim,
            " is not divisible by num_heads ", vc.num_heads);

  const auto tj = object("med_config");
  JsonFields t(tj, what + " (med_config)");
  auto& tc = c.text;
  tc.vocab_size = t.get_int("vocab_size", tc.vocab_size);
  tc.hidden_size = t.get_int("hidden_size", tc.hidden_size);
  tc.num_hidden_layers = t.get_int("num_hidden_layers", tc.num_hidden_layers);
  tc.num_attention_heads = t.get_int("num_attention_heads", tc.num_attention_heads);
  tc.intermediate_size = t.get_int("intermediate_size", tc.intermediate_size);
  tc.max_position_embeddings = t.get_int("max_position_embeddings", tc.max_position_embeddings);
  tc.pad_token_id = t.get_int("pad_token_id", tc.pad_token_id);
  tc.layer_norm_eps = t.get_double("layer_norm_eps", tc.layer_norm_eps);
  t.require_default("hidden_act", "gelu");
  t.require_default("add_cross_attention", true);
  t.require_default("position_embedding_type", "absolute");
  tc.encoder_width = vc.embed_dim;  // BLIP_Pretrain: encoder_config.encoder_width = vision_width
  AFA_CHECK(tc.vocab_size > 0 && tc.hidden_size > 0 && tc.num_hidden_layers > 0 && tc.num_attention_heads > 0 &&
                tc.intermediate_size > 0 && tc.max_position_embeddings >= c.max_length,
            what, " (med_config): sizes must be positive and max_position_embeddings at least ", c.max_length);
  AFA_CHECK(tc.hidden_size % tc.num_attention_heads == 0, what, " (med_config): hidden_size ", tc.hidden_size,
            " is not divisible by num_attention_heads ", tc.num_attention_heads);
  AFA_CHECK(tc.layer_norm_eps > 0 && std::isfinite(tc.layer_norm_eps), what,
            " (med_config): layer_norm_eps must be positive");
  return c;
}

ImageRewardConfig ImageRewardConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path, "ImageReward config"), path);
}

}  // namespace afa::metrics
