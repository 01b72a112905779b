// LoRA at load time (afa generate --lora): the same bake as in a merge, applied in place to a loaded
// model's U-Net and text encoder, so an ensemble can take "checkpoint + LoRA" models directly.
#pragma once

#include <string>
#include <vector>

#include "afa/merge/lora.h"
#include "afa/pipeline/stable_diffusion.h"

namespace afa::merge {

// `config_files` as for loading `sd` (single files); the configs give the LDM names kohya files may use.
// Returns the number of weights changed.
size_t bake_loras_into(pipeline::StableDiffusion& sd, const std::vector<LoraSpec>& loras,
                       const std::vector<std::string>& config_files = {});

}  // namespace afa::merge
