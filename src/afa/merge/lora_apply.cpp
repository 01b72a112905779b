#include "afa/merge/lora_apply.h"

#include <torch/torch.h>

#include "afa/io/checkpoint.h"
#include "afa/io/ldm_names.h"

namespace afa::merge {

size_t bake_loras_into(pipeline::StableDiffusion& sd, const std::vector<LoraSpec>& loras,
                       const std::vector<std::string>& config_files) {
  if (loras.empty()) return 0;
  // The configs, to name every parameter in LDM naming as the baker does (the weights stay unread views).
  io::Checkpoint ck = io::load_checkpoint(sd.path, config_files, io::kUNet | io::kTextEncoder);
  struct Target {
    torch::nn::Module* module;
    io::ParamEntry entry;
  };
  std::map<std::string, Target> by_ldm;
  io::ShapeMap shapes;
  for (io::Component c : {io::Component::UNet, io::Component::TextEncoder}) {
    torch::nn::Module* m = c == io::Component::UNet ? static_cast<torch::nn::Module*>(sd.unet.get())
                                                    : static_cast<torch::nn::Module*>(sd.text_encoder.get());
    for (const auto& e : io::component_params(c, ck.component(c).config, ck.component(c).source)) {
      shapes[e.ldm] = io::ldm_shape(e);
      by_ldm.emplace(e.ldm, Target{m, e});
    }
  }
  LoraBaker baker(loras, shapes);
  torch::NoGradGuard no_grad;
  size_t changed = 0;
  for (const auto& [key, t] : by_ldm) {
    if (!baker.touches(key)) continue;
    torch::Tensor p = t.module->named_parameters(true)[t.entry.diffusers];
    torch::Tensor w = io::diffusers_to_ldm(t.entry, p.detach().to(torch::kCPU, torch::kFloat32));
    baker.apply(key, w);
    p.copy_(io::ldm_to_diffusers(t.entry, w).to(p.device(), p.scalar_type()));
    ++changed;
  }
  return changed;
}

}  // namespace afa::merge
