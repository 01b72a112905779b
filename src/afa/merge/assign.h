// A merge written straight into a loaded model's modules: the per-trial step of a block-weight search
// (no file per trial). The modules are built once; each trial overwrites their weights in place.
#pragma once

#include <string>
#include <vector>

#include "afa/merge/merger.h"
#include "afa/pipeline/stable_diffusion.h"

namespace afa::merge {

// Copies every merged U-Net and text-encoder weight (and the VAE's when `sd` has one) into `sd`, cast
// to its dtype and device. `config_files` as for loading the merge's first model (single files).
// Throws afa::Error when `sd` lacks a weight of the merge (another architecture).
void assign_merge(pipeline::StableDiffusion& sd, const Merger& m, const std::vector<std::string>& config_files = {});

}  // namespace afa::merge
