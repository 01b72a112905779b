// Loading a name -> tensor map into a torch::nn::Module whose parameter names are diffusers' names.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

namespace afa::io {

using StateDict = std::map<std::string, torch::Tensor>;

// Copies every parameter and buffer of `module` from `sd` (converting dtype and device to the module's).
// Strict: keys in `sd` that the module lacks, parameters of the module missing from `sd`, and shape
// mismatches are an afa::Error that names `source` (a file) and lists the first few offenders.
void load_state_dict(torch::nn::Module& module, const StateDict& sd, const std::string& source);

// All parameters and buffers of the module by their (diffusers) names, detached.
StateDict state_dict(const torch::nn::Module& module);

}  // namespace afa::io
