#include "afa/pipeline/stable_diffusion.h"

#include <cstdlib>
#include <filesystem>

#include "afa/io/state_dict.h"
#include "afa/models/layers.h"
#include "afa/util/error.h"

namespace afa::pipeline {

namespace fs = std::filesystem;

std::string default_tokenizer_dir() {
  if (const char* env = std::getenv("AFA_DATA_DIR")) return std::string(env) + "/clip_tokenizer";
  return std::string(AFA_DATA_DIR) + "/clip_tokenizer";
}

std::shared_ptr<text::ClipTokenizer> load_tokenizer(const io::Checkpoint& ckpt) {
  std::string dir = ckpt.tokenizer_dir.empty() ? default_tokenizer_dir() : ckpt.tokenizer_dir;
  return std::make_shared<text::ClipTokenizer>(text::ClipTokenizer::from_folder(dir));
}

namespace {

template <typename M>
void prepare(M& module, const LoadOptions& opts) {
  module->to(opts.device, opts.dtype);
  module->eval();
  for (auto& p : module->parameters()) p.set_requires_grad(false);
}

}  // namespace

StableDiffusion load_stable_diffusion(const std::string& path, const LoadOptions& opts) {
  unsigned components = io::kUNet | io::kTextEncoder | (opts.load_vae ? io::kVAE : 0u);
  io::Checkpoint ckpt = io::load_checkpoint(path, opts.config_files, components);
  StableDiffusion sd;
  sd.path = path;
  fs::path p(path);
  sd.name = (p.has_filename() ? p : p.parent_path()).stem().string();
  sd.format = ckpt.format;
  sd.tokenizer = load_tokenizer(ckpt);

  // Every module is built without its random initialisation: the strict loads below overwrite it all.
  models::SkipInitGuard skip_init;
  auto text_cfg = text::ClipTextConfig::from_json(ckpt.text_encoder.config, ckpt.text_encoder.source);
  sd.text_encoder = std::make_shared<text::ClipTextModel>(text_cfg);
  io::load_state_dict(*sd.text_encoder, ckpt.text_encoder.tensors, ckpt.text_encoder.source);
  sd.text_encoder->to(opts.device, opts.dtype);
  sd.text_encoder->eval();
  for (auto& q : sd.text_encoder->parameters()) q.set_requires_grad(false);
  ckpt.text_encoder.tensors.clear();  // release the file views as soon as they are copied

  sd.unet = models::UNet2DConditionModel(models::UNet2DConditionConfig::from_json(ckpt.unet.config, ckpt.unet.source));
  io::load_state_dict(*sd.unet, ckpt.unet.tensors, ckpt.unet.source);
  prepare(sd.unet, opts);
  ckpt.unet.tensors.clear();

  if (opts.load_vae) {
    sd.vae = models::AutoencoderKL(models::AutoencoderKLConfig::from_json(ckpt.vae.config, ckpt.vae.source));
    io::load_state_dict(*sd.vae, ckpt.vae.tensors, ckpt.vae.source);
    prepare(sd.vae, opts);
  }
  sd.scheduler_config = schedulers::SchedulerConfig::from_json(ckpt.scheduler_config);
  return sd;
}

}  // namespace afa::pipeline
