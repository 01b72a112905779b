#include "afa/merge/assign.h"

#include <torch/torch.h>

#include "afa/io/checkpoint.h"
#include "afa/io/ldm_names.h"
#include "afa/util/error.h"

namespace afa::merge {

void assign_merge(pipeline::StableDiffusion& sd, const Merger& m, const std::vector<std::string>& config_files) {
  const unsigned comps = io::kUNet | io::kTextEncoder | (sd.vae ? io::kVAE : 0u);
  io::Checkpoint ck = io::load_checkpoint(m.options().models.at(0), config_files, comps);  // configs only
  struct Target {
    torch::Tensor param;
    io::ParamEntry entry;
  };
  std::map<std::string, Target> by_ldm;
  auto add = [&](io::Component c, const torch::nn::Module& module) {
    auto params = module.named_parameters(true);
    auto buffers = module.named_buffers(true);
    for (const auto& e : io::component_params(c, ck.component(c).config, ck.component(c).source)) {
      const torch::Tensor* p = params.find(e.diffusers);
      if (!p) p = buffers.find(e.diffusers);
      AFA_CHECK(p, sd.path, ": the loaded ", io::component_name(c), " has no '", e.diffusers, "' for the merge of ",
                m.options().models[0]);
      by_ldm.emplace(e.ldm, Target{*p, e});
    }
  };
  add(io::Component::UNet, *sd.unet);
  add(io::Component::TextEncoder, *sd.text_encoder);
  if (sd.vae) add(io::Component::VAE, *sd.vae);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < m.plan().size(); ++i) {
    auto it = by_ldm.find(m.plan()[i].key);
    if (it == by_ldm.end()) continue;
    torch::Tensor& p = it->second.param;
    torch::Tensor w = io::ldm_to_diffusers(it->second.entry, m.compute(i));
    AFA_CHECK(w.sizes() == p.sizes(), sd.path, ": '", it->second.entry.diffusers, "' is ", p.sizes(),
              " but the merge's is ", w.sizes());
    p.copy_(w.to(p.device(), p.scalar_type()));
  }
}

}  // namespace afa::merge
