// The `parameters` text that AUTOMATIC1111 writes into its PNGs and reads back in PNG Info:
//   prompt \n Negative prompt: ... \n Steps: 20, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 512x512, ...
// and the PNGs that carry it.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "afa/pipeline/text_to_image.h"

namespace afa::pipeline {

// `extra`: method entries placed after "Model" (e.g. {"Ensemble", "afa"}); `batch_pos`: the image's index.
std::string a1111_parameters(const GenerateOptions& o, const std::string& model_names,
                             const std::vector<std::pair<std::string, std::string>>& extra, int64_t batch_pos);

// The PNG files of a generation: image i of `result` with the `parameters` text of batch position i.
// `afa generate` writes these bytes and `afa serve` sends them base64-encoded, so the same settings give
// byte-identical images from both.
std::vector<std::string> generation_pngs(const GenerateResult& result, const GenerateOptions& o,
                                         const std::string& model_names,
                                         const std::vector<std::pair<std::string, std::string>>& extra);

}  // namespace afa::pipeline
