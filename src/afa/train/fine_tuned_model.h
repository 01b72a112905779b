// `afa train --unet` writes the fine-tuned model in its source's format, as fine-tunes are shared: the
// trained U-Net with the source checkpoint's own text encoder, VAE, tokenizer and scheduler. A single-file
// source gives DIR/model.safetensors (LDM naming; it loads with the --config the source needed), a
// diffusers folder gives the folder DIR/model.
#pragma once

#include <string>
#include <vector>

#include "afa/models/unet_2d_condition.h"

namespace afa::train {

constexpr const char* kFineTunedFile = "model.safetensors";
constexpr const char* kFineTunedFolder = "model";

// The fine-tuned model in checkpoint folder DIR: DIR/model (a folder) or DIR/model.safetensors.
std::string fine_tuned_model_path(const std::string& dir);

// Writes the model into DIR (atomically). `source`: the checkpoint the U-Net was fine-tuned from
// (read again for its text encoder and VAE); `origin`: recorded in the metadata.
void write_fine_tuned_model(const std::string& dir, const models::UNet2DConditionModel& unet,
                            const std::string& source, const std::vector<std::string>& config_files,
                            const std::string& origin);

}  // namespace afa::train
