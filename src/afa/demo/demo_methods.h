// The rows of the demo's table: every method of the paper's comparison, each made by the code users call
// (`afa merge` for the merges, ensemble::make_denoiser for the ensembles), over the shipped models.
//
//   base models  the three experts (round, warm, pair) and the base they were fine-tuned from
//   merges       weighted (equal thirds), MBW (a stated preset), autoMBW (searched block weights)
//   ensembles    noise averaging, block averaging, MagicFusion, AFA
//   ablations    AFA's aggregators trained as last-block-only, scalar, no-time, no-text
//
// Merging three models block-wise: supermerger's MBW takes two models, so, as its users do, the demo
// chains two MBW merges with one 25-value preset p (one alpha per U-Net block):
//   M1 = (1 - p)·round + p·warm,   MBW = (1 - 2p/3)·M1 + (2p/3)·pair,
// which is the equal-thirds merge where p = 0.5. autoMBW searches p.
#pragma once

#include <string>
#include <vector>

#include "afa/ensemble/make_denoiser.h"
#include "afa/merge/block_weights.h"

namespace afa::demo {

// The shipped models (models/ in the repository), checked to exist.
struct DemoModels {
  std::string dir;
  std::string base;
  std::vector<std::string> expert_names;  // round warm pair
  std::vector<std::string> experts;       // their folders
  std::string aggregators;                // folder of <variant>.safetensors
  std::string classifier;                 // the toy fidelity classifier
  std::string auto_mbw;                   // cached autoMBW search result (may not exist yet)
};
// Throws afa::Error naming the missing file and how to make it (scripts/demo_world.sh).
DemoModels find_demo_models(const std::string& dir);

// AFA's aggregator variants, in table order: afa, last-block-only, scalar, no-time, no-text.
const std::vector<std::string>& aggregator_variants();

// The MBW preset of the table (merge::block_preset name) and its 26 values (BASE 0.5).
extern const char* const kMbwPreset;
merge::BlockWeights mbw_preset_weights();

// Writes the chained three-model MBW merge with block weights `p` as a diffusers folder at `out`
// (replacing it); `work` holds the intermediate merge. Returns `out`.
std::string write_chained_mbw(const std::vector<std::string>& experts, const merge::BlockWeights& p,
                              const std::string& out, const std::string& work);
// The equal-weight merge of the models as a diffusers folder at `out` (replacing it).
std::string write_weighted_merge(const std::vector<std::string>& models, const std::string& out);

struct DemoMethod {
  std::string id;          // folder-safe name: expert-round, merge-mbw, afa, ablation-scalar, ...
  std::string label;       // the table's row name
  std::string group;       // base models | merges | ensembles | ablations
  std::string recipe;      // how it is made, one line for the report
  std::vector<std::string> models;
  ensemble::MethodOptions options;
};

struct MergedModels {
  std::string weighted, mbw, auto_mbw;
  merge::BlockWeights auto_mbw_weights;
};

// Every row, in table order.
std::vector<DemoMethod> demo_methods(const DemoModels& models, const MergedModels& merged);

}  // namespace afa::demo
