#include "afa/ensemble/afa_ensemble.h"

#include "afa/models/checkpoint.h"
#include "afa/pipeline/load_ensemble.h"

#include "afa/util/error.h"

namespace afa::ensemble {

AfaEnsemble::AfaEnsemble(std::vector<models::UNet2DConditionModel> unets, AggregatorSet aggregators,
                         const std::string& source)
    : StagewiseEnsemble(std::move(unets)), set_(std::move(aggregators)) {
  const auto& u0 = this->unets()[0];
  check_fits(set_, u0->stages(), int64_t(num_models()), source);
  by_stage_.assign(u0->num_stages(), -1);
  for (size_t i = 0; i < set_.stages.size(); ++i) {
    AFA_CHECK(by_stage_[set_.stages[i]] < 0, source, ": two aggregators for stage ", set_.stages[i]);
    by_stage_[set_.stages[i]] = int64_t(i);
  }
  for (auto& a : set_.aggregators) {
    const auto& c = a->config();
    AFA_CHECK(c.temb_channels == u0->config().time_embed_dim() || !c.use_timestep, source,
              ": aggregators expect a ", c.temb_channels, "-wide time embedding, the U-Nets give ",
              u0->config().time_embed_dim());
  }
}

std::optional<torch::Tensor> AfaEnsemble::merge(int64_t k, const torch::Tensor& stacked, const MergeInputs& in,
                                                torch::Tensor* maps) {
  const int64_t i = by_stage_[k];
  if (i < 0) return std::nullopt;
  auto& agg = set_.aggregators[i];
  // The aggregator runs in its own dtype (training keeps it in float32 while U-Nets may be half).
  const auto dt = agg->conv_in->weight.scalar_type();
  if (checkpointing_ && !maps && torch::GradMode::is_enabled()) {
    auto* sabw = agg.get();
    auto run = [sabw](const std::vector<torch::Tensor>& x) { return sabw->forward(x[0], x[1], x[2]).first; };
    return models::checkpoint(run, {stacked.to(dt), in.temb.to(dt), in.context.to(dt)}, true)
        .to(stacked.scalar_type());
  }
  auto [merged, m] = agg->forward(stacked.to(dt), in.temb.to(dt), in.context.to(dt));
  if (maps) *maps = m;
  return merged.to(stacked.scalar_type());
}

void AfaEnsemble::set_gradient_checkpointing(bool on) {
  checkpointing_ = on;
  for (auto u : unets()) u->gradient_checkpointing = on;  // holders share the module
}

NoiseAverage::NoiseAverage(std::vector<models::UNet2DConditionModel> unets) : unets_(std::move(unets)) {
  pipeline::check_same_architecture(unets_, {});
}

torch::Tensor NoiseAverage::predict(const torch::Tensor& latents, const torch::Tensor& timestep,
                                    const std::vector<torch::Tensor>& contexts) {
  AFA_INTERNAL_ASSERT(contexts.size() == unets_.size(), "noise-avg of ", unets_.size(), " models got ", contexts.size(),
            " text contexts");
  torch::Tensor sum;
  for (size_t m = 0; m < unets_.size(); ++m) {
    auto x = latents.to(unets_[m]->device(), unets_[m]->dtype());
    auto e = unets_[m]->forward(x, timestep, contexts[m]).to(torch::kFloat32);
    sum = sum.defined() ? sum + e : e;
  }
  return sum / double(unets_.size());
}

}  // namespace afa::ensemble
