// The shape of a CLIP model (transformers' CLIPConfig): a text tower (afa::text::ClipTextConfig, the SD
// text encoder's config), a ViT image tower and the shared embedding size. Defaults are transformers'.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "afa/text/clip_text_model.h"

namespace afa::metrics {

// transformers' CLIPVisionConfig.
struct ClipVisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t image_size = 224;
  int64_t patch_size = 32;
  double layer_norm_eps = 1e-5;
  std::string hidden_act = "quick_gelu";  // or "gelu"

  int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
  // The encoder layers of both towers are the same transformers modules (CLIPEncoderLayer); the text
  // model's implementation reads its sizes from a ClipTextConfig, so the vision tower passes one.
  text::ClipTextConfig as_encoder_config() const;
};

struct ClipConfig {
  text::ClipTextConfig text;
  ClipVisionConfig vision;
  int64_t projection_dim = 512;

  // A CLIPConfig JSON object ("text_config", "vision_config", "projection_dim"). Throws afa::Error naming
  // `source` for missing or nonsensical values.
  static ClipConfig from_json(const nlohmann::json& j, const std::string& source);
  static ClipConfig from_file(const std::string& path);

  // openai/clip-vit-large-patch14 (CLIP-T/CLIP-I, the aesthetic predictor's image tower): quick_gelu.
  static ClipConfig vit_large_patch14();
  // laion/CLIP-ViT-H-14-laion2B-s32B-b79K (PickScore_v1, HPSv2): exact gelu.
  static ClipConfig vit_huge_patch14();
};

}  // namespace afa::metrics
