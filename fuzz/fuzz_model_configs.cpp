// The JSON configs of a diffusers folder: unet/vae/text_encoder/scheduler config.json and
// model_index.json, each read from the same bytes (they share the JSON layer, not the schema).
#include "afa/io/checkpoint.h"
#include "afa/models/unet_config.h"
#include "afa/models/vae_config.h"
#include "afa/schedulers/scheduler_config.h"
#include "afa/text/clip_text_model.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using afa::fuzz::expect_only_afa_errors;
  const std::string path = afa::fuzz::write_input("config.json", data, size);
  expect_only_afa_errors([&] { afa::models::UNet2DConditionConfig::from_file(path); });
  expect_only_afa_errors([&] { afa::models::AutoencoderKLConfig::from_file(path); });
  expect_only_afa_errors([&] { afa::text::ClipTextConfig::from_file(path); });
  expect_only_afa_errors([&] { afa::schedulers::SchedulerConfig::from_file(path); });
  // A folder whose only file is this model_index.json: parsed, then refused for the missing parts.
  afa::fuzz::write_input("folder/model_index.json", data, size);
  expect_only_afa_errors([&] { afa::io::load_checkpoint((afa::fuzz::scratch_dir() / "folder").string()); });
  return 0;
}
