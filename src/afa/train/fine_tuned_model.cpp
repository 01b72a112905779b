#include "afa/train/fine_tuned_model.h"

#include <filesystem>
#include <map>

#include "afa/io/checkpoint.h"
#include "afa/io/diffusers_folder.h"
#include "afa/pipeline/stable_diffusion.h"
#include "afa/io/ldm_names.h"
#include "afa/io/safetensors.h"
#include "afa/io/state_dict.h"

namespace afa::train {

namespace fs = std::filesystem;

std::string fine_tuned_model_path(const std::string& dir) {
  const fs::path folder = fs::path(dir) / kFineTunedFolder;
  return fs::is_directory(folder) ? folder.string() : (fs::path(dir) / kFineTunedFile).string();
}

void write_fine_tuned_model(const std::string& dir, const models::UNet2DConditionModel& unet,
                            const std::string& source, const std::vector<std::string>& config_files,
                            const std::string& origin) {
  auto ck = io::load_checkpoint(source, config_files);
  std::map<std::string, torch::Tensor> trained;
  for (const auto& [name, t] : io::state_dict(*unet)) trained[name] = t.to(torch::kCPU, torch::kFloat32);
  if (ck.format == "diffusers") {
    io::PipelineFolder p;
    p.unet = {ck.unet.config, trained};
    p.vae = {ck.vae.config, ck.vae.tensors};
    p.text_encoder = {ck.text_encoder.config, ck.text_encoder.tensors};
    p.tokenizer_dir = ck.tokenizer_dir.empty() ? pipeline::default_tokenizer_dir() : ck.tokenizer_dir;
    p.scheduler_config = ck.scheduler_config;
    io::save_diffusers_folder((fs::path(dir) / kFineTunedFolder).string(), p);
    return;
  }
  auto tensors = io::to_ldm_tensors(io::Component::UNet, ck.unet.config, trained, "the trained U-Net");
  for (auto c : {io::Component::VAE, io::Component::TextEncoder}) {
    const auto& w = ck.component(c);
    std::map<std::string, torch::Tensor> f32;
    for (const auto& [name, t] : w.tensors) f32[name] = t.to(torch::kFloat32);
    auto more = io::to_ldm_tensors(c, w.config, f32, w.source);
    tensors.insert(tensors.end(), more.begin(), more.end());
  }
  std::filesystem::create_directories(dir);
  io::save_safetensors((std::filesystem::path(dir) / kFineTunedFile).string(), tensors,
                       {{"afa_fine_tuned_from", origin}});
}

}  // namespace afa::train
