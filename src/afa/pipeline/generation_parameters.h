// The `parameters` text that AUTOMATIC1111 writes into its PNGs and reads back in PNG Info:
//   prompt \n Negative prompt: ... \n Steps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512, ...
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "afa/pipeline/text_to_image.h"

namespace afa::pipeline {

// `extra`: method entries placed after "Model" (e.g. {"Ensemble", "afa"}); `batch_pos`: the image's index.
std::string a1111_parameters(const GenerateOptions& o, const std::string& model_names,
                             const std::vector<std::pair<std::string, std::string>>& extra, int64_t batch_pos);

}  // namespace afa::pipeline
