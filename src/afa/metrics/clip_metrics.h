// Running the CLIP-family scorers over image folders and prompt lists (afa eval's clip-t, clip-i, aes,
// pick, hps): each model with its reference's preprocessing, batch by batch, features kept on the CPU.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "afa/metrics/clip_config.h"
#include "afa/metrics/clip_model.h"
#include "afa/metrics/clip_preprocess.h"
#include "afa/text/clip_tokenizer.h"

namespace afa::metrics {

// The architecture of a weights file: FILE.json beside FILE.safetensors (a transformers CLIPConfig, e.g.
// the model's config.json renamed) if it exists, else `preset` (the published model's).
ClipConfig clip_config_for(const std::string& safetensors_path, const ClipConfig& preset);

// One prompt per line (a final newline or "\r\n" line ends are fine). Throws afa::Error naming the file if
// it cannot be read or holds no line; the tokenizer refuses text that is not UTF-8.
std::vector<std::string> read_prompts_file(const std::string& path);

// Image features (get_image_features, not normalised) of the files in order, [N, projection_dim] float32
// on the CPU. Images are preprocessed on the CPU at the model's image size by `path`. `progress` (may be
// empty) gets the number of images done.
torch::Tensor clip_image_features(ClipModel& model, ClipPreprocess path, const std::vector<std::string>& files,
                                  int64_t batch_size, const torch::Device& device,
                                  const std::function<void(int64_t)>& progress = {});

// Text features (get_text_features) of the prompts, [N, projection_dim] float32 on the CPU: padded to 77
// and truncated keeping the end token, as transformers' tokenizer with truncation=True.
torch::Tensor clip_text_features(ClipModel& model, const text::ClipTokenizer& tokenizer,
                                 const std::vector<std::string>& prompts, int64_t batch_size,
                                 const torch::Device& device);

}  // namespace afa::metrics
