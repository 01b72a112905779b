// Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5): its complete configs, and its recognition from
// a single file's shapes, so SD 1.5 files and their fine-tunes load with no --config.
#pragma once

#include <nlohmann/json.hpp>

#include "afa/io/component.h"

namespace afa::io {

nlohmann::json sd15_unet_config();
nlohmann::json sd15_vae_config();
nlohmann::json sd15_text_encoder_config();
nlohmann::json sd15_scheduler_config();

// Every parameter of the component present with SD 1.5's shape (LDM names), and no other.
bool is_sd15_component(Component c, const ShapeMap& shapes);
bool is_sd15(const ShapeMap& shapes);

}  // namespace afa::io
