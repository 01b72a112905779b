#include "afa/ensemble/stagewise.h"

#include "afa/util/error.h"

namespace afa::ensemble {

void check_same_architecture(const std::vector<models::UNet2DConditionModel>& unets,
                             const std::vector<std::string>& names) {
  AFA_CHECK(!unets.empty(), "an ensemble needs at least one model");
  auto ref = unets[0]->named_parameters();
  for (size_t m = 1; m < unets.size(); ++m) {
    auto other = unets[m]->named_parameters();
    const std::string who = m < names.size() ? names[m] : "model " + std::to_string(m);
    const std::string first = names.empty() ? "model 0" : names[0];
    for (const auto& p : ref) {
      const torch::Tensor* q = other.find(p.key());
      AFA_CHECK(q, who, ": U-Net has no tensor ", p.key(), " that ", first,
                " has: the ensemble's models must share one architecture");
      AFA_CHECK(q->sizes() == p.value().sizes(), who, ": U-Net tensor ", p.key(), " has shape ", q->sizes(),
                " but ", first, " has ", p.value().sizes(), ": the ensemble's models must share one architecture");
    }
    AFA_CHECK(other.size() == ref.size(), who, ": U-Net has ", other.size(), " tensors but ", first, " has ",
              ref.size(), ": the ensemble's models must share one architecture");
  }
}

StagewiseEnsemble::StagewiseEnsemble(std::vector<models::UNet2DConditionModel> unets) : unets_(std::move(unets)) {
  check_same_architecture(unets_, {});
}

torch::Tensor StagewiseEnsemble::predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                                         const std::vector<torch::Tensor>& contexts) {
  const size_t n = unets_.size();
  AFA_CHECK(contexts.size() == n, "ensemble of ", n, " models got ", contexts.size(), " text contexts");
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
  if (record_maps) {
    last_maps.clear();
    last_map_stages.clear();
  }

  // hidden[m]: model m's input to the next stage; `shared` when all models have the same one.
  std::vector<torch::Tensor> hidden(n, x);
  const int64_t stages = u0->num_stages();
  for (int64_t k = 0; k < stages; ++k) {
    std::vector<torch::Tensor> outs;
    outs.reserve(n);
    for (size_t m = 0; m < n; ++m) outs.push_back(unets_[m]->stage(k, hidden[m], states[m]));
    torch::Tensor maps;
    auto merged = merge(k, torch::stack(outs, 1), in, record_maps ? &maps : nullptr);
    if (merged) {
      for (size_t m = 0; m < n; ++m) {
        hidden[m] = *merged;
        if (u0->stage_info(k).pushes_skip) states[m].skips.back() = *merged;
      }
      if (record_maps && maps.defined()) {
        last_maps.push_back(maps.detach().to(torch::kCPU, torch::kFloat32));
        last_map_stages.push_back(k);
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
