#include "afa/metrics/clip_config.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "afa/util/error.h"
#include "afa/util/json_fields.h"
#include "afa/util/json_file.h"

namespace afa::metrics {

text::ClipTextConfig ClipVisionConfig::as_encoder_config() const {
  text::ClipTextConfig c;
  c.hidden_size = hidden_size;
  c.intermediate_size = intermediate_size;
  c.num_hidden_layers = num_hidden_layers;
  c.num_attention_heads = num_attention_heads;
  c.layer_norm_eps = layer_norm_eps;
  c.hidden_act = hidden_act;
  return c;
}

ClipConfig ClipConfig::from_json(const nlohmann::json& root, const std::string& source) {
  AFA_CHECK(root.is_object(), "CLIP config ", source, ": expected a JSON object");
  ClipConfig c;
  // transformers 4.34's CLIPTextConfig defaults eos_token_id to 2 (pool at the largest id).
  nlohmann::json text =
      root.contains("text_config") && root["text_config"].is_object() ? root["text_config"] : nlohmann::json::object();
  if (!text.contains("eos_token_id")) text["eos_token_id"] = 2;
  c.text = text::ClipTextConfig::from_json(text, source + " (text_config)");

  const nlohmann::json vision = root.contains("vision_config") && root["vision_config"].is_object()
                                    ? root["vision_config"]
                                    : nlohmann::json::object();
  JsonFields v(vision, "CLIP config " + source + " (vision_config)");
  ClipVisionConfig& vc = c.vision;
  vc.hidden_size = v.get_int("hidden_size", vc.hidden_size);
  vc.intermediate_size = v.get_int("intermediate_size", vc.intermediate_size);
  vc.num_hidden_layers = v.get_int("num_hidden_layers", vc.num_hidden_layers);
  vc.num_attention_heads = v.get_int("num_attention_heads", vc.num_attention_heads);
  vc.image_size = v.get_int("image_size", vc.image_size);
  vc.patch_size = v.get_int("patch_size", vc.patch_size);
  vc.layer_norm_eps = v.get_double("layer_norm_eps", vc.layer_norm_eps);
  vc.hidden_act = v.get_string("hidden_act", vc.hidden_act);
  v.require_default("num_channels", 3);
  AFA_CHECK(vc.hidden_size > 0 && vc.intermediate_size > 0 && vc.num_hidden_layers > 0 && vc.num_attention_heads > 0 &&
                vc.image_size > 0 && vc.patch_size > 0,
            "CLIP config ", source, " (vision_config): sizes must be positive");
  AFA_CHECK(vc.hidden_size % vc.num_attention_heads == 0, "CLIP config ", source, " (vision_config): hidden_size ",
            vc.hidden_size, " is not divisible by num_attention_heads ", vc.num_attention_heads);
  AFA_CHECK(vc.image_size % vc.patch_size == 0, "CLIP config ", source, " (vision_config): image_size ", vc.image_size,
            " is not a multiple of patch_size ", vc.patch_size);
  AFA_CHECK(vc.layer_norm_eps > 0 && std::isfinite(vc.layer_norm_eps), "CLIP config ", source,
            " (vision_config): layer_norm_eps must be positive");
  AFA_CHECK(vc.hidden_act == "quick_gelu" || vc.hidden_act == "gelu", "CLIP config ", source,
            " (vision_config): unsupported hidden_act \"", vc.hidden_act, "\" (quick_gelu or gelu)");

  c.projection_dim = JsonFields(root, "CLIP config " + source).get_int("projection_dim", c.projection_dim);
  AFA_CHECK(c.projection_dim > 0, "CLIP config ", source, ": projection_dim must be positive");
  return c;
}

ClipConfig ClipConfig::from_file(const std::string& path) {
  return from_json(read_json_file(path, "CLIP config"), path);
}

ClipConfig ClipConfig::vit_large_patch14() {
  ClipConfig c;
  c.text = text::ClipTextConfig::sd15();  // the same text tower SD 1.5 uses
  c.vision.hidden_size = 1024;
  c.vision.intermediate_size = 4096;
  c.vision.num_hidden_layers = 24;
  c.vision.num_attention_heads = 16;
  c.vision.patch_size = 14;
  c.projection_dim = 768;
  return c;
}

ClipConfig ClipConfig::vit_huge_patch14() {
  ClipConfig c;
  c.text.hidden_size = 1024;
  c.text.intermediate_size = 4096;
  c.text.num_hidden_layers = 24;
  c.text.num_attention_heads = 16;
  c.text.hidden_act = "gelu";
  c.text.eos_token_id = 2;
  c.vision.hidden_size = 1280;
  c.vision.intermediate_size = 5120;
  c.vision.num_hidden_layers = 32;
  c.vision.num_attention_heads = 16;
  c.vision.patch_size = 14;
  c.vision.hidden_act = "gelu";
  c.projection_dim = 1024;
  return c;
}

}  // namespace afa::metrics
