// A single file's structure read off its tensor shapes (LDM names): channels, block and layer counts,
// attention placement, context width; text hidden size, layers, vocabulary, positions. What shapes cannot
// tell (head counts, the VAE's scaling factor) is left to presets and config files (model_config.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "afa/io/component.h"

namespace afa::io {

// Throws afa::Error naming `source` when the component's keys are absent or do not form a supported model.
nlohmann::json unet_structure_from_ldm(const ShapeMap& shapes, const std::string& source);
nlohmann::json vae_structure_from_ldm(const ShapeMap& shapes, const std::string& source);
nlohmann::json text_structure_from_ldm(const ShapeMap& shapes, const std::string& source);

}  // namespace afa::io
