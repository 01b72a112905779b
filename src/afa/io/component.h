// The three components of a Stable Diffusion checkpoint, as diffusers names its folders, and the
// vocabulary every loader shares: which components to load, tensor shapes by name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace afa::io {

enum class Component { UNet, VAE, TextEncoder };
// "unet", "vae", "text_encoder": the diffusers folder names.
const char* component_name(Component c);

// Which components to load: a bitmask.
enum ComponentMask : unsigned {
  kUNet = 1u,
  kVAE = 2u,
  kTextEncoder = 4u,
  kAllComponents = 7u,
};
unsigned component_bit(Component c);

using ShapeMap = std::map<std::string, std::vector<int64_t>>;  // tensor name -> shape

// "[320, 4, 3, 3]", for messages.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace afa::io
