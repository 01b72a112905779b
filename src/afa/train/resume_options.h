// `afa train --resume OUT` alone continues a run: every option the user did not give is taken from the
// record in OUT's training state (models, data, configs, method, batch size, resolution, steps, ...), so
// the command that resumes is never longer than the one that started. Options given explicitly win and
// are then checked by the trainer (those that decide the data order must agree).
#pragma once

#include <functional>
#include <string>

#include "afa/train/train_options.h"

namespace afa::train {

// `given("--batch-size")` says whether the user passed that option. Reads o.resume's training state;
// throws afa::Error naming the folder when it is not a training checkpoint.
void fill_from_checkpoint(TrainOptions& o, const std::function<bool(const std::string& option)>& given);

}  // namespace afa::train
