#include "afa/metrics/metric_weights.h"

#include <cstdlib>
#include <filesystem>

#include "afa/util/error.h"

namespace fs = std::filesystem;

namespace afa::metrics {

const WeightsFile kFidInceptionWeights{
    "pt_inception-2015-12-05.safetensors",
    "pytorch-fid's release pt_inception-2015-12-05-6726825d.pth (https://github.com/mseitzer/pytorch-fid/"
    "releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth), converted once with its key names: "
    "afa convert pt_inception-2015-12-05-6726825d.pth -o pt_inception-2015-12-05.safetensors"};

const WeightsFile kClipVitL14Weights{"clip-vit-large-patch14.safetensors",
                                     "openai/clip-vit-large-patch14's model.safetensors from the Hugging Face Hub "
                                     "(https://huggingface.co/openai/clip-vit-large-patch14), renamed"};

const WeightsFile kAestheticWeights{
    "sac+logos+ava1-l14-linearMSE.safetensors",
    "LAION's improved aesthetic predictor sac+logos+ava1-l14-linearMSE.pth (https://github.com/christophschuhmann/"
    "improved-aesthetic-predictor), converted once with its key names: afa convert "
    "sac+logos+ava1-l14-linearMSE.pth -o sac+logos+ava1-l14-linearMSE.safetensors"};

const WeightsFile kPickScoreWeights{"PickScore_v1.safetensors",
                                    "yuvalkirstain/PickScore_v1's model.safetensors from the Hugging Face Hub "
                                    "(https://huggingface.co/yuvalkirstain/PickScore_v1), renamed"};

const WeightsFile kHpsv2Weights{
    "HPS_v2_compressed.safetensors",
    "HPSv2's HPS_v2_compressed.pt (https://huggingface.co/xswu/HPSv2), converted once with its open_clip key "
    "names (its 'state_dict' entry): afa convert HPS_v2_compressed.pt -o HPS_v2_compressed.safetensors"};

const WeightsFile kImageRewardWeights{
    "ImageReward.safetensors",
    "THUDM/ImageReward's ImageReward.pt (https://huggingface.co/THUDM/ImageReward, with its med_config.json), "
    "converted once with its key names: afa convert ImageReward.pt -o ImageReward.safetensors"};

std::string weights_folder(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("AFA_WEIGHTS"); env && *env) return env;
  const char* home = std::getenv("HOME");
  AFA_CHECK(home && *home, "no weights folder: pass --weights DIR or set $AFA_WEIGHTS (and $HOME is not set)");
  return (fs::path(home) / ".cache" / "afa" / "weights").string();
}

std::string require_weights_file(const std::string& folder, const WeightsFile& w, const std::string& needed_by) {
  const std::string path = (fs::path(folder) / w.file_name).string();
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  fail(needed_by, " needs the weights file ", path, ", which ",
       fs::exists(path, ec) ? "is not a regular file" : "does not exist", ". It is ", w.origin,
       ". Put it in that folder, or point --weights (or $AFA_WEIGHTS) to the folder holding it.");
}

}  // namespace afa::metrics
