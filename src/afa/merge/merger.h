// A merge of N models, planned once and computed one tensor at a time.
//
// The plan lists every output tensor (the first model's keys, in its order, LDM naming) with its dtype
// and shape, so a writer can lay out the file before any weight is read. compute(i) reads that key from
// each input (a view of the mapped file), upcasts to float32, merges, bakes LoRAs, and casts to the
// output dtype; release(i) then drops the inputs' pages, so memory stays at a few tensors whatever the
// model size. Inputs that disagree (a key missing from one, another shape) are refused before anything
// is read, with the first offenders listed.
//
// Which keys merge: weights and biases of the U-Net, text encoder and VAE (supermerger's "weight"/"bias"
// test); other keys (position_ids, unknown extras) come from the first model. Each merged key's
// parameter is --alpha, or with MBW the alpha of its block (block_map.h): weighted (1 − a)·A + a·B,
// add-difference A + a·(B − C), TIES λ = a.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "afa/merge/block_map.h"
#include "afa/merge/block_weights.h"
#include "afa/merge/lora.h"
#include "afa/merge/model_source.h"
#include "afa/merge/ties.h"

namespace afa::merge {

enum class Method { kWeighted, kAddDifference, kTies };
Method parse_method(const std::string& name);  // weighted | add-difference | ties
const char* method_name(Method m);

struct MergeOptions {
  std::vector<std::string> models;            // paths: LDM single files or diffusers folders
  Method method = Method::kWeighted;
  // weighted: one value a for two models ((1 − a)·A + a·B; default 0.5), or one weight per model summing
  // to 1 (default equal); add-difference: α (default 1); ties: λ (default 1).
  std::vector<double> alpha;
  std::optional<BlockWeights> block_weights;  // MBW: per-block α (weighted needs exactly two models)
  BlockConvention block_map = BlockConvention::kSupermerger;
  double density = 1.0;                       // ties: fraction of each task vector kept
  bool dare = false;                          // ties: random drop + rescale instead of the magnitude trim
  uint64_t seed = 0;                          // DARE's draws
  std::string dtype;                          // "" keeps each key's dtype in the first model; f16|f32|bf16
  std::vector<LoraSpec> loras;                // baked after the merge
  bool hash_inputs = true;                    // sha256 of each input in the recipe (else its size)
};

struct PlannedTensor {
  std::string key;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  int block = 0;        // index into kBlockIds
  bool merged = false;  // false: copied from the first model
  bool lora = false;    // a LoRA changes it
};

class Merger {
 public:
  // Opens the inputs and checks options and compatibility; throws afa::Error naming the file or option.
  explicit Merger(MergeOptions options);
  ~Merger();

  const MergeOptions& options() const { return options_; }
  const std::vector<PlannedTensor>& plan() const { return plan_; }
  const std::vector<std::unique_ptr<ModelSource>>& inputs() const { return inputs_; }
  // The merge parameter (α or λ) for a block index.
  double alpha_for_block(int block) const;
  // The output tensor of plan()[i]; a view of the first input when the key is copied unchanged.
  torch::Tensor compute(size_t i) const;
  void release(size_t i) const;
  // Large tensors of weighted, add-difference and TIES merges and of copies (not DARE, not with a LoRA)
  // can be computed a slab of rows (dim 0) at a time, which bounds memory by the slab instead of the
  // largest tensor (SD 1.5's token embedding is 38 M values). TIES first finds each model's trim
  // threshold over the whole tensor (one float32 copy of its magnitudes). Not thread-safe.
  bool splittable(size_t i) const;
  torch::Tensor compute_rows(size_t i, int64_t row_begin, int64_t row_end) const;
  void release_rows(size_t i, int64_t row_begin, int64_t row_end) const;
  // The recipe for the output's safetensors metadata (hashes the inputs unless hash_inputs is off).
  std::map<std::string, std::string> metadata() const;

 private:
  std::vector<double> weights_for(int block) const;
  // TIES on slabs: each model's trim threshold over the whole tensor, found once per key.
  const std::vector<TrimThreshold>& ties_thresholds(size_t i) const;
  mutable size_t thresholds_of_ = SIZE_MAX;
  mutable std::vector<TrimThreshold> thresholds_;
  MergeOptions options_;
  std::vector<std::unique_ptr<ModelSource>> inputs_;
  std::vector<PlannedTensor> plan_;
  std::unique_ptr<LoraBaker> lora_;
};

using ProgressFn = std::function<void(size_t done, size_t total)>;
// Streams the merge into `output` (temporary + rename). Refuses to overwrite an input. Splittable
// tensors larger than `slab` values are computed and written `slab` values (whole rows) at a time.
void merge_to_file(const Merger& m, const std::string& output, const ProgressFn& progress = {},
                   int64_t slab = int64_t(1) << 22);
// The whole merged model in memory (tests, block-weight searches).
std::map<std::string, torch::Tensor> merge_in_memory(const Merger& m);

}  // namespace afa::merge
