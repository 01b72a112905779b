#include "afa/ensemble/magic_fusion.h"

#include "afa/pipeline/load_ensemble.h"
#include "afa/util/error.h"

namespace afa::ensemble {

namespace F = torch::nn::functional;

torch::Tensor magic_fusion_saliency(const torch::Tensor& guidance, double temperature) {
  AFA_CHECK(guidance.dim() == 4, "MagicFusion saliency expects [B, C, h, w], got ", guidance.sizes());
  AFA_CHECK(temperature > 0, "MagicFusion temperature must be > 0 (got ", temperature, ")");
  const int64_t b = guidance.size(0), h = guidance.size(2), w = guidance.size(3);
  // Smooth away single-pixel spikes: a 4×4 mean (stride 1, pad 1, the padding counted) leaves
  // (h−1)×(w−1), which nearest resizing brings back to the latent grid.
  auto smooth = F::avg_pool2d(guidance.abs(), F::AvgPool2dFuncOptions(4).stride(1).padding(1));
  smooth = F::interpolate(smooth, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{h, w})
                                      .mode(torch::kNearest));
  auto flat = smooth.mean(1).reshape({b, h * w});
  return torch::softmax(flat / temperature, 1).reshape({b, h, w});
}

MagicFusion::MagicFusion(std::vector<models::UNet2DConditionModel> unets, MagicFusionOptions options)
    : unets_(std::move(unets)), o_(std::move(options)) {
  pipeline::check_same_architecture(unets_, {});
  const auto n = int64_t(unets_.size());
  AFA_CHECK(o_.general >= 0 && o_.general < n, "MagicFusion general model index ", o_.general, " is not one of the ",
            n, " models");
  AFA_CHECK(o_.outside >= 0 && o_.outside < n, "MagicFusion unfused-steps model index ", o_.outside,
            " is not one of the ", n, " models");
  if (o_.temperatures.empty()) o_.temperatures.assign(n, 1.0);
  AFA_CHECK(int64_t(o_.temperatures.size()) == n, "MagicFusion needs one temperature per model: got ",
            o_.temperatures.size(), " for ", n, " models");
  for (double t : o_.temperatures) AFA_CHECK(t > 0, "MagicFusion temperatures must be > 0 (got ", t, ")");
}

torch::Tensor MagicFusion::predict(const torch::Tensor&, const torch::Tensor&, const std::vector<torch::Tensor>&) {
  fail("magicfusion blends classifier-free-guided noises: it needs a guidance scale > 1");
}

torch::Tensor MagicFusion::guided(const torch::Tensor& latents, const torch::Tensor& timestep,
                                  const std::vector<torch::Tensor>& contexts, double cfg_scale) {
  AFA_CHECK(cfg_scale > 1.0, "magicfusion blends classifier-free-guided noises: it needs a guidance scale > 1 (got ",
            cfg_scale, ")");
  AFA_INTERNAL_ASSERT(contexts.size() == unets_.size(), "magicfusion of ", unets_.size(), " models got ", contexts.size(),
            " text contexts");
  const double t = timestep.item<double>();
  const bool fuse = o_.fuse_above ? t >= o_.threshold : t < o_.threshold;
  if (!fuse) {  // one model, plain guidance: the others need not run
    auto& unet = unets_[o_.outside];
    auto e = unet->forward(latents.to(unet->device(), unet->dtype()), timestep, contexts[o_.outside]);
    return classifier_free_guidance(e.to(torch::kFloat32), cfg_scale);
  }
  std::vector<torch::Tensor> uncond, cond;
  for (size_t m = 0; m < unets_.size(); ++m) {
    auto e = unets_[m]->forward(latents.to(unets_[m]->device(), unets_[m]->dtype()), timestep, contexts[m]);
    auto parts = e.to(torch::kFloat32).chunk(2);
    uncond.push_back(parts[0]);
    cond.push_back(parts[1]);
  }
  std::vector<torch::Tensor> guided_noise, saliency;
  for (size_t m = 0; m < unets_.size(); ++m) {
    guided_noise.push_back(uncond[m] + cfg_scale * (cond[m] - uncond[m]));
    auto a = cfg_scale * (cond[m] - uncond[o_.general]);
    saliency.push_back(magic_fusion_saliency(a, o_.temperatures[m]));
  }
  // argmax over models (ties to the lower index), then gather that model's noise at every pixel.
  last_choice_ = torch::stack(saliency, 0).argmax(0);                    // [B, h, w]
  auto all = torch::stack(guided_noise, 0);                              // [N, B, C, h, w]
  auto index = last_choice_.unsqueeze(0).unsqueeze(2).expand({1, all.size(1), all.size(2), all.size(3), all.size(4)});
  return all.gather(0, index).squeeze(0);
}

}  // namespace afa::ensemble
