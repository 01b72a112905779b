// The tiny SD 1.5-structured pipelines of ../shared/golden (A as a diffusers folder; A, B, C as LDM
// single files, which need the configs the golden README names).
#pragma once

#include <string>
#include <vector>

#include "afa/pipeline/stable_diffusion.h"
#include "golden.h"

namespace afa::test {

inline std::vector<std::string> tiny_single_file_configs() {
  return {golden("pipelines/ldm_config.yaml"), golden("pipelines/text_encoder_config.json")};
}

// "A" -> pipelines/A.safetensors (single file); "A-folder" -> pipelines/A.
inline pipeline::StableDiffusion load_tiny(const std::string& which, bool vae = true) {
  pipeline::LoadOptions o;
  o.load_vae = vae;
  if (which == "A-folder") return pipeline::load_stable_diffusion(golden("pipelines/A"), o);
  o.config_files = tiny_single_file_configs();
  return pipeline::load_stable_diffusion(golden("pipelines/" + which + ".safetensors"), o);
}

}  // namespace afa::test
