// Baking kohya-format LoRA / LoCon files into a model's weights.
// Keys: <module>.lora_down.weight, <module>.lora_up.weight, <module>.alpha (optional: alpha = rank), with
// <module> = lora_unet_<path> or lora_te_<path>, the path being the diffusers module path
// ("down_blocks_0_attentions_0_proj_in") or the LDM one ("input_blocks_1_1_proj_in"), dots as '_'.
// Each module changes one weight: W' = W + scale·(up·alpha / rank) @ down, with both flattened to 2-D
// (a 3x3 LoCon down [r,in,3,3] with up [out,r,1,1] too) and the product reshaped to W's shape, in
// float32 — diffusers' fuse_lora. Keys the model has no weight for are an error listing them.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "afa/io/model_config.h"
#include "afa/io/safetensors.h"

namespace afa::merge {

struct LoraSpec {
  std::string path;
  double scale = 1.0;
};
// "FILE" or "FILE:weight" (the text after the last ':' when it is a number).
LoraSpec parse_lora_spec(const std::string& s);

class LoraBaker {
 public:
  // `shapes`: the target model's tensors by LDM name (U-Net and text-encoder names are read off it).
  LoraBaker(const std::vector<LoraSpec>& loras, const io::ShapeMap& shapes);
  // Whether any LoRA changes this LDM key.
  bool touches(const std::string& key) const { return by_key_.count(key) != 0; }
  // w (float32, the key's shape) += every LoRA's delta for the key.
  void apply(const std::string& key, torch::Tensor& w) const;
  size_t modules() const { return modules_; }

 private:
  struct Module {
    std::shared_ptr<io::SafeTensorsFile> file;
    std::string down, up;  // tensor names in the file
    double alpha, rank, scale;
  };
  std::map<std::string, std::vector<Module>> by_key_;
  size_t modules_ = 0;
};

// kohya module name -> LDM weight key, for the U-Net and text encoder described by `shapes`.
std::map<std::string, std::string> kohya_module_names(const io::ShapeMap& shapes);

}  // namespace afa::merge
