#include "afa/io/component.h"

#include <sstream>

namespace afa::io {

const char* component_name(Component c) {
  switch (c) {
    case Component::UNet: return "unet";
    case Component::VAE: return "vae";
    case Component::TextEncoder: return "text_encoder";
  }
  return "?";
}

unsigned component_bit(Component c) {
  switch (c) {
    case Component::UNet: return kUNet;
    case Component::VAE: return kVAE;
    case Component::TextEncoder: return kTextEncoder;
  }
  return 0;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

}  // namespace afa::io
