#include "afa/pipeline/new_model.h"

#include <torch/torch.h>

#include "afa/io/config_defaults.h"
#include "afa/io/diffusers_folder.h"
#include "afa/io/sd15.h"
#include "afa/io/state_dict.h"
#include "afa/models/autoencoder_kl.h"
#include "afa/models/unet_2d_condition.h"
#include "afa/text/clip_text_model.h"
#include "afa/text/clip_tokenizer.h"
#include "afa/util/error.h"

namespace afa::pipeline {

namespace {

nlohmann::json section(const nlohmann::json& configs, const char* key) {
  if (!configs.contains(key) || configs[key].is_null()) return nlohmann::json::object();
  AFA_CHECK(configs[key].is_object(), "model configs: \"", key, "\" must be a JSON object");
  return configs[key];
}

io::FolderComponent component(const torch::nn::Module& m, nlohmann::json config) {
  io::FolderComponent c;
  c.config = std::move(config);
  for (const auto& [name, t] : io::state_dict(m)) c.tensors[name] = t.detach().clone();
  return c;
}

}  // namespace

void create_model_folder(const std::string& dir, const NewModelOptions& o) {
  AFA_CHECK(o.configs.is_object(), "model configs must be a JSON object");
  // The vocabulary must be readable and fit the text encoder.
  auto tokenizer = text::ClipTokenizer::from_folder(o.tokenizer_dir);
  const auto unet_cfg = io::complete_config(io::Component::UNet, section(o.configs, "unet"));
  const auto vae_cfg = io::complete_config(io::Component::VAE, section(o.configs, "vae"));
  auto text_section = section(o.configs, "text_encoder");
  // A vocabulary of one's own (the demo world's) sizes the embedding table unless the config says otherwise.
  if (!text_section.contains("vocab_size")) text_section["vocab_size"] = int64_t(tokenizer.vocab_size());
  const auto text_cfg = io::complete_config(io::Component::TextEncoder, text_section);
  auto sched = o.configs.contains("scheduler") ? section(o.configs, "scheduler") : io::sd15_scheduler_config();

  io::PipelineFolder p;
  p.tokenizer_dir = o.tokenizer_dir;
  p.scheduler_config = sched;
  {
    torch::manual_seed(o.seed);
    models::UNet2DConditionModel unet(models::UNet2DConditionConfig::from_json(unet_cfg, "the unet config"));
    p.unet = component(*unet, unet_cfg);
  }
  {
    torch::manual_seed(o.seed + 1);
    models::AutoencoderKL vae(models::AutoencoderKLConfig::from_json(vae_cfg, "the vae config"));
    p.vae = component(*vae, vae_cfg);
  }
  {
    torch::manual_seed(o.seed + 2);
    auto tc = text::ClipTextConfig::from_json(text_cfg, "the text_encoder config");
    AFA_CHECK(int64_t(tokenizer.vocab_size()) <= tc.vocab_size, o.tokenizer_dir, ": the vocabulary has ",
              tokenizer.vocab_size(), " tokens but the text encoder's vocab_size is ", tc.vocab_size);
    text::ClipTextModel te(tc);
    p.text_encoder = component(te, text_cfg);
  }
  io::save_diffusers_folder(dir, p);
}

}  // namespace afa::pipeline
