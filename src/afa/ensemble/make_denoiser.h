// "Build the denoiser for method X": the one place that turns a method name and its options into a
// Denoiser over loaded U-Nets, for every command (generate, analyze, demo, serve).
//
//   single       one model's U-Net
//   afa          the AFA ensemble: trained SABW aggregators after every block (needs an aggregator checkpoint)
//   block-avg    the same walk, every aggregation point the mean of the N features (ablation)
//   noise-avg    mean of the N predicted noises (baseline)
//   magicfusion  saliency-aware blending of the N guided noises (baseline, needs CFG)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "afa/ensemble/aggregators.h"
#include "afa/ensemble/magic_fusion.h"
#include "afa/pipeline/denoiser.h"

namespace afa::ensemble {

struct MethodOptions {
  std::string method;                       // empty: afa with an aggregator, single for one model
  std::string aggregator;                   // afa: checkpoint folder or .safetensors
  std::optional<AggregatorSet> aggregators; // afa: already loaded (else read from `aggregator`)
  MagicFusionOptions magicfusion;
  bool attention_maps = false;              // keep the aggregators' maps of each prediction (afa)
};

// The method names, in the order help texts list them.
const std::vector<std::string>& method_names();

// Resolves the default method and checks the combination against the number of models and the guidance
// scale, and reads the aggregators (so a bad file fails before the slow model loading). Throws afa::Error.
void prepare_method(MethodOptions& options, size_t num_models, double cfg_scale);

// The denoiser over these U-Nets (moved to the first U-Net's device and dtype where it has parameters).
// Runs prepare_method itself when the caller has not. Throws afa::Error when the models do not fit.
std::unique_ptr<pipeline::Denoiser> make_denoiser(MethodOptions options,
                                                  const std::vector<models::UNet2DConditionModel>& unets,
                                                  double cfg_scale = 7.5);

// The method's entries for A1111's `parameters` text (e.g. {"Ensemble", "afa"}, {"Aggregator", "C1"}).
std::vector<std::pair<std::string, std::string>> method_parameters(const MethodOptions& options);

}  // namespace afa::ensemble
