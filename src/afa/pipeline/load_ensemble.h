// "Load N models": what every command that runs an ensemble does first (generate, train, analyze, demo).
// One VAE (the first model's) serves the whole ensemble; each model keeps its own text encoder, since
// fine-tunes often retrain theirs; the U-Nets must share one architecture to be walked stage by stage.
#pragma once

#include <string>
#include <vector>

#include "afa/pipeline/stable_diffusion.h"

namespace afa::pipeline {

struct LoadedEnsemble {
  std::vector<StableDiffusion> models;

  // Views the pipeline functions take (text encoders per model, models[0]'s VAE and scheduler config).
  std::vector<const StableDiffusion*> pointers() const;
  std::vector<models::UNet2DConditionModel> unets() const;
  // "A + B + C": the models' names, for PNG metadata and logs.
  std::string names() const;
  size_t size() const { return models.size(); }
  // The image side the first model was trained at (its U-Net's sample_size x the VAE's factor), the
  // size diffusers draws when none is given. Throws afa::Error when the first model has no VAE.
  int64_t native_size() const;
  // The VAE's factor between image and latent sides (8 for SD 1.5): sizes must be multiples of it.
  int64_t vae_factor() const;
};

struct EnsembleLoadOptions {
  LoadOptions load;            // configs, device, dtype (load_vae is decided here: the first model only)
  bool progress = true;        // a progress bar over the models when stderr is a terminal
  std::string option_name = "-m/--model";  // how the paths were given, for error messages
};

// Loads every path (a diffusers folder or an LDM single file); throws afa::Error naming a missing path
// or the first U-Net tensor whose name or shape differs from the first model's.
LoadedEnsemble load_ensemble(const std::vector<std::string>& paths, const EnsembleLoadOptions& options = {});

// Throws afa::Error naming the first parameter whose name or shape differs from the first model's.
void check_same_architecture(const std::vector<models::UNet2DConditionModel>& unets,
                             const std::vector<std::string>& names);

}  // namespace afa::pipeline
