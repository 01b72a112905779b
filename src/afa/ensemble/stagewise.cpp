#include "afa/ensemble/stagewise.h"

#include "afa/pipeline/load_ensemble.h"
#include "afa/util/error.h"

namespace afa::ensemble {

StagewiseEnsemble::StagewiseEnsemble(std::vector<models::UNet2DConditionModel> unets) : unets_(std::move(unets)) {
  pipeline::check_same_architecture(unets_, {});
}

torch::Tensor StagewiseEnsemble::predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                                         const std::vector<torch::Tensor>& contexts) {
  const size_t n = unets_.size();
  AFA_INTERNAL_ASSERT(contexts.size() == n, "ensemble of ", n, " models got ", contexts.size(), " text contexts");
  const auto& u0 = unets_[0];
  const int64_t batch = latents.size(0);
  auto x = latents.to(u0->device(), u0->dtype());

  std::vector<models::UNetState> states;
  std::vector<torch::Tensor> tembs, ctxs;
  for (size_t m = 0; m < n; ++m) {
    states.push_back(unets_[m]->begin(timestep, contexts[m], batch));
    tembs.push_back(states.back().temb);
    ctxs.push_back(states.back().context);
  }
  MergeInputs in{torch::stack(tembs).mean(0), torch::stack(ctxs).mean(0)};
  if (record_maps_) last_maps_ = {};

  // hidden[m]: model m's input to the next stage; `shared` when all models have the same one.
  std::vector<torch::Tensor> hidden(n, x);
  const int64_t stages = u0->num_stages();
  for (int64_t k = 0; k < stages; ++k) {
    std::vector<torch::Tensor> outs;
    outs.reserve(n);
    for (size_t m = 0; m < n; ++m) {
      RECORD_USER_SCOPE("afa::unet_stage");
      outs.push_back(unets_[m]->stage(k, hidden[m], states[m]));
    }
    torch::Tensor maps;
    torch::Tensor stacked;
    {
      RECORD_USER_SCOPE("afa::stack");
      stacked = torch::stack(outs, 1);
    }
    std::optional<torch::Tensor> merged;
    {
      RECORD_USER_SCOPE("afa::merge");
      merged = merge(k, stacked, in, record_maps_ ? &maps : nullptr);
    }
    if (merged) {
      for (size_t m = 0; m < n; ++m) {
        hidden[m] = *merged;
        if (u0->stage_info(k).pushes_skip) states[m].skips.back() = *merged;
      }
      if (record_maps_ && maps.defined()) {
        last_maps_.maps.push_back(maps.detach().to(torch::kCPU, torch::kFloat32));
        last_maps_.stages.push_back(k);
      }
    } else {
      hidden = std::move(outs);
    }
  }
  // Without a merge at the last stage the N predictions are averaged.
  torch::Tensor out = hidden[0];
  bool same = true;
  for (size_t m = 1; m < n; ++m) same = same && hidden[m].is_same(hidden[0]);
  if (!same) out = torch::stack(hidden).mean(0);
  return out.to(torch::kFloat32);
}

}  // namespace afa::ensemble
