// open_clip's CLIP naming (HPSv2's checkpoints) -> transformers' CLIPModel naming. The two are the same
// network: open_clip keeps q, k, v in one in_proj (concatenated along the output dimension) and stores
// the projections as x @ proj, i.e. transposed Linear weights.
#pragma once

#include <string>

#include "afa/io/state_dict.h"

namespace afa::metrics {

// True when the keys are open_clip's (visual.conv1.weight present).
bool is_open_clip_naming(const io::StateDict& sd);

// The same tensors under transformers' names (in_proj split into q/k/v, visual.proj and text_projection
// transposed). An unknown key or an in_proj whose first dimension is not a multiple of 3 is an afa::Error
// naming `source`.
io::StateDict open_clip_to_hf_names(const io::StateDict& sd, const std::string& source);

}  // namespace afa::metrics
