#include "afa/pipeline/load_ensemble.h"

#include <filesystem>

#include "afa/util/error.h"
#include "afa/util/progress.h"

namespace afa::pipeline {

std::vector<const StableDiffusion*> LoadedEnsemble::pointers() const {
  std::vector<const StableDiffusion*> out;
  for (const auto& m : models) out.push_back(&m);
  return out;
}

std::vector<models::UNet2DConditionModel> LoadedEnsemble::unets() const {
  std::vector<models::UNet2DConditionModel> out;
  for (const auto& m : models) out.push_back(m.unet);
  return out;
}

std::string LoadedEnsemble::names() const {
  std::string out;
  for (const auto& m : models) out += (out.empty() ? "" : " + ") + m.name;
  return out;
}

int64_t LoadedEnsemble::vae_factor() const {
  AFA_CHECK(!models.empty() && models[0].vae, models.empty() ? "" : models[0].path, ": no VAE to decode the images");
  return models[0].vae->config().downscale_factor();
}

int64_t LoadedEnsemble::native_size() const { return models.at(0).unet->config().sample_size * vae_factor(); }

LoadedEnsemble load_ensemble(const std::vector<std::string>& paths, const EnsembleLoadOptions& options) {
  AFA_CHECK(!paths.empty(), "give a model with ", options.option_name);
  // Every path is checked before the first (slow) load.
  for (const auto& p : paths)
    AFA_CHECK(std::filesystem::exists(p), p, ": no such file or folder (", options.option_name, ")");
  LoadedEnsemble e;
  LoadOptions lo = options.load;
  ProgressBar bar("loading", int64_t(paths.size()), options.progress);
  for (size_t i = 0; i < paths.size(); ++i) {
    lo.load_vae = i == 0;
    e.models.push_back(load_stable_diffusion(paths[i], lo));
    bar.update(int64_t(i + 1));
  }
  bar.finish();
  check_same_architecture(e.unets(), paths);
  return e;
}

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

}  // namespace afa::pipeline
