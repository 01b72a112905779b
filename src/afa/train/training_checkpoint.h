// A training checkpoint is a folder that is first of all a usable model: for AFA the aggregator
// checkpoint in the official layout (what `afa generate --aggregator DIR` loads). Beside the weights:
//   training_state.json         step, epoch, position in the epoch, the run's settings (checked on resume)
//   training_state.safetensors  the optimizer state ("optimizer.<param>.exp_avg", ...) and the epoch's
//                               data order ("data_order", I64)
// The randomness needs no state of its own (see random_streams.h): the seed and the counters suffice.
//
// Saving is atomic: the whole folder is written beside its destination and renamed into place, and the
// files a run keeps next to its checkpoint (its log, the latent cache) are moved over, so a crash at any
// moment leaves either the previous checkpoint or the new one.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace afa::train {

struct TrainingState {
  int64_t step = 0;                  // optimizer steps done
  int64_t epoch = 0;                 // epoch that the next step belongs to
  int64_t step_in_epoch = 0;         // steps of that epoch already done
  std::vector<int64_t> skipped_samples;  // indices of the unreadable images met so far
  std::vector<int64_t> data_order;   // the epoch's order of training sample indices
  std::map<std::string, torch::Tensor> optimizer;  // AdamW::state_dict()
  double loss_scale = 0;             // fp16 training: the GradScaler's scale (0: not used)
  int64_t loss_scale_clean_steps = 0;
  nlohmann::json settings = nlohmann::json::object();  // what must not change across a resume
};

inline constexpr const char* kStateJson = "training_state.json";
inline constexpr const char* kStateTensors = "training_state.safetensors";

// Writes a checkpoint to `dir`: `write_weights(tmp)` creates the weights' folder `tmp` (for AFA:
// ensemble::save_aggregators), then the state files are added, the entries of the old `dir` named in
// `carry` are moved over, and the result replaces `dir`.
void save_training_checkpoint(const std::string& dir, const std::function<void(const std::string&)>& write_weights,
                              const TrainingState& state, const std::vector<std::string>& carry);

// Repairs what a save killed between its renames leaves (OUT.saving.PID / OUT.old.PID of a dead process):
// a missing OUT becomes the newest complete checkpoint among them, carried entries (the log) that were
// already moved into the unfinished folder go back to OUT, and the leftovers are removed. Returns what it
// did, one line per action (empty when there was nothing to do). Folders of live processes are left alone.
std::vector<std::string> recover_interrupted_save(const std::string& dir, const std::vector<std::string>& carry);

// Whether `dir` holds a training state.
bool has_training_state(const std::string& dir);

// Reads the state files of `dir`; throws afa::Error naming the file when they are missing or malformed.
TrainingState load_training_state(const std::string& dir);

}  // namespace afa::train
