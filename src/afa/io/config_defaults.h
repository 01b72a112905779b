// The class defaults of the three configs (diffusers' UNet2DConditionModel and AutoencoderKL
// __init__ defaults, transformers' CLIPTextConfig), filled in as from_config does.
#pragma once

#include <nlohmann/json.hpp>

#include "afa/io/component.h"

namespace afa::io {

// Fills the keys a config lacks with the class's __init__ defaults, as from_config does. Throws
// afa::Error when `partial` is neither null nor an object.
nlohmann::json complete_config(Component c, const nlohmann::json& partial);

// `base` with every top-level key of `over` laid over it.
nlohmann::json merge_keys(nlohmann::json base, const nlohmann::json& over);

}  // namespace afa::io
