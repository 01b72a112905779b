// Where the metrics' network weights live, and what a missing file says. Weights are not shipped (size
// and licences); the user puts the converted files in one folder: --weights DIR, else $AFA_WEIGHTS, else
// ~/.cache/afa/weights.
#pragma once

#include <string>

namespace afa::metrics {

struct WeightsFile {
  const char* file_name;  // in the weights folder
  const char* origin;     // where it comes from and how to make it, for the error message
};

// pytorch-fid's FID Inception (also torch-fidelity's: same weights), for FID and IS.
extern const WeightsFile kFidInceptionWeights;
// OpenAI CLIP ViT-L/14 in transformers' naming, for CLIP-T, CLIP-I and the aesthetic predictor's embeddings.
extern const WeightsFile kClipVitL14Weights;
// LAION's improved aesthetic predictor v2 (the MLP on CLIP ViT-L/14 embeddings).
extern const WeightsFile kAestheticWeights;
// PickScore_v1 (a CLIP ViT-H/14 in transformers' naming).
extern const WeightsFile kPickScoreWeights;
// HPSv2 (a CLIP ViT-H/14 in open_clip's naming).
extern const WeightsFile kHpsv2Weights;
// ImageReward (BLIP ViT-L + BERT + MLP head), the published state_dict's key names.
extern const WeightsFile kImageRewardWeights;

// The folder: `flag` if not empty, else $AFA_WEIGHTS if set and not empty, else $HOME/.cache/afa/weights.
std::string weights_folder(const std::string& flag);

// folder/file_name, checked to be a regular file; else an afa::Error naming the metrics that need it
// (`needed_by`, e.g. "FID and IS"), the path expected and where the file comes from.
std::string require_weights_file(const std::string& folder, const WeightsFile& w, const std::string& needed_by);

}  // namespace afa::metrics
