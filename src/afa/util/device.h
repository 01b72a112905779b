// --device and --dtype as every command takes them.
#pragma once

#include <torch/types.h>

#include <string>

namespace afa {

// "cpu", "cuda" or "cuda:N"; throws afa::Error when unknown or when this build has no CUDA.
torch::Device parse_device(const std::string& s);

// f32 | f16 | bf16 (and the long spellings); f16 needs a CUDA device. Throws afa::Error.
torch::ScalarType parse_dtype(const std::string& s, const torch::Device& device);

}  // namespace afa
