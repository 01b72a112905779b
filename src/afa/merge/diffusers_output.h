// A merge written as a diffusers folder (afa merge --format diffusers): unet/, vae/, text_encoder/ with
// their config.json and weights (streamed, diffusers names and shapes), scheduler/, tokenizer/ and
// model_index.json. The configs are the first model's: a folder's own, or for a single file what afa
// infers from its shapes and `config_files` (see io/model_config.h). Keys no diffusers model uses
// (position_ids, ...) are left out. The folder appears atomically (built beside it, then renamed); an
// existing folder is never overwritten.
#pragma once

#include <string>
#include <vector>

#include "afa/merge/merger.h"

namespace afa::merge {

void merge_to_diffusers(const Merger& m, const std::string& output_dir, const std::vector<std::string>& config_files = {},
                        const ProgressFn& progress = {}, int64_t slab = int64_t(1) << 22);

}  // namespace afa::merge
