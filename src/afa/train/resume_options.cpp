#include "afa/train/resume_options.h"

#include <filesystem>

#include "afa/train/training_checkpoint.h"
#include "afa/util/error.h"
#include "afa/util/json_file.h"

namespace afa::train {

namespace fs = std::filesystem;

namespace {

// Sets `field` from settings[key] unless the user gave `option` or the record lacks the key.
template <typename T>
void take(T& field, const nlohmann::json& settings, const char* key, const char* option,
          const std::function<bool(const std::string&)>& given, const std::string& where) {
  if (given(option) || !settings.contains(key) || settings[key].is_null()) return;
  try {
    field = settings[key].get<T>();
  } catch (const nlohmann::json::exception& e) {
    fail(where, ": settings.", key, ": ", e.what());
  }
}

}  // namespace

void fill_from_checkpoint(TrainOptions& o, const std::function<bool(const std::string&)>& given) {
  if (o.resume.empty()) return;
  const std::string json = (fs::path(o.resume) / kStateJson).string();
  AFA_CHECK(fs::is_directory(o.resume), o.resume, ": no such checkpoint folder (--resume)");
  AFA_CHECK(fs::exists(json), o.resume, ": not a training checkpoint (", kStateJson,
            " is missing; a folder of aggregators alone cannot be resumed)");
  const nlohmann::json state = read_json_file(json, "training state");
  const nlohmann::json s = state.value("settings", nlohmann::json::object());
  take(o.models, s, "models", "--model", given, json);
  take(o.config_files, s, "config_files", "--config", given, json);
  take(o.data, s, "data", "--data", given, json);
  take(o.train_unet, s, "train_unet", "--unet", given, json);
  take(o.method, s, "method", "--method", given, json);
  take(o.hidden_size, s, "hidden_size", "--hidden-size", given, json);
  take(o.num_heads, s, "num_heads", "--heads", given, json);
  take(o.num_layers, s, "num_layers", "--layers", given, json);
  // --epochs and --max-steps together say where the run ends: take both or neither.
  if (!given("--epochs") && !given("--max-steps")) {
    take(o.epochs, s, "epochs", "--epochs", given, json);
    take(o.max_steps, s, "max_steps", "--max-steps", given, json);
  }
  take(o.batch_size, s, "batch_size", "--batch-size", given, json);
  take(o.grad_accum, s, "grad_accum", "--grad-accum", given, json);
  take(o.resolution, s, "resolution", "--resolution", given, json);
  take(o.center_crop, s, "center_crop", "--center-crop", given, json);
  take(o.random_flip, s, "random_flip", "--random-flip", given, json);
  take(o.lr, s, "lr", "--lr", given, json);
  take(o.weight_decay, s, "weight_decay", "--weight-decay", given, json);
  take(o.warmup_steps, s, "warmup_steps", "--warmup-steps", given, json);
  take(o.lr_scheduler, s, "lr_scheduler", "--lr-scheduler", given, json);
  take(o.max_grad_norm, s, "max_grad_norm", "--max-grad-norm", given, json);
  take(o.drop_text, s, "drop_text", "--drop-text", given, json);
  take(o.seed, s, "seed", "--seed", given, json);
  take(o.save_every, s, "save_every", "--save-every", given, json);
  take(o.val_fraction, s, "val_fraction", "--val-fraction", given, json);
  take(o.val_every, s, "val_every", "--val-every", given, json);
  take(o.cache_latents, s, "cache_latents", "--cache-latents", given, json);
  take(o.mixed_precision, s, "mixed_precision", "--mixed-precision", given, json);
  take(o.gradient_checkpointing, s, "gradient_checkpointing", "--gradient-checkpointing", given, json);
}

}  // namespace afa::train
